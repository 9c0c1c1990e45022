"""Every English catalog is complete: no untranslated and no fuzzy entry (msgfmt counts them)."""

import re
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


# A template prints its {% translate %} and {% blocktranslate %} text as it is, unescaped: an
# angle bracket there must open a real tag, or the browser eats the text ("v<número>").
TAGS_ALLOWED = re.compile(r"</?(code|strong|em|a|br|kbd)\b[^<>]*>")


def _template_entries(catalog: Path) -> list[tuple[str, ...]]:
    entries = []
    for block in catalog.read_text(encoding="utf-8").split("\n\n"):
        if not any(line.startswith("#:") and ".html" in line for line in block.splitlines()):
            continue
        parts = re.split(r"^msgstr(?:\[\d+\])? ", block, flags=re.MULTILINE)
        entries.append(tuple("".join(re.findall(r'"(.*)"', part)) for part in parts))
    return entries


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: str(path.parent.parent.parent))
def test_template_text_has_no_angle_brackets_but_real_tags(catalog):
    eaten = [
        text
        for entry in _template_entries(catalog)
        for text in entry
        if "<" in TAGS_ALLOWED.sub("", text) or ">" in TAGS_ALLOWED.sub("", text)
    ]
    assert eaten == []
