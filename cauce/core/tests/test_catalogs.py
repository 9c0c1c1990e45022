"""Every English catalog is complete: no untranslated and no fuzzy entry (msgfmt counts them)."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

CATALOGS = sorted(
    path
    for path in Path(settings.BASE_DIR).glob("**/locale/en/LC_MESSAGES/django.po")
    if ".venv" not in path.parts
)


def test_every_app_with_user_strings_has_a_catalog():
    apps = {path.parts[-5] for path in CATALOGS}
    assert {"projects", "datasets", "experiments", "artifacts", "registry", "api"} <= apps
    assert Path(settings.BASE_DIR, "locale/en/LC_MESSAGES/django.po") in CATALOGS


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: str(path.parent.parent.parent))
def test_the_catalog_is_fully_translated(catalog):
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalog)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr
    assert "fuzzy" not in result.stderr
    assert "translated message" in result.stderr
