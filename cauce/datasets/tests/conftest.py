from pathlib import Path

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Each test stores files in its own folder, so "nothing stored" can be checked."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def spanish():
    # A request in English leaves English active in the thread: start each test in Spanish
    # and put back whatever was active afterwards.
    with translation.override("es"):
        yield


def stored_files(root: Path) -> list[Path]:
    return [path for path in Path(root).rglob("*") if path.is_file()]
