import pytest

from cauce.artifacts.paths import InvalidArtifactPath, artifact_content_type, clean_artifact_path

# Every form the browser tab and the API must refuse, before MLflow is asked.
REJECTED_PATHS = [
    "..",
    "a/../b",
    "%2e%2e",
    "%2e%2e/secret",
    "%252e%252e",
    "%25252e%25252e/x",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "C:\\x",
    "C:/x",
    "a\\b",
    "a%5cb",
    "#",
    "%23",
    "a?b",
    "\x00",
    "%00",
    "%2500",
    "\n",
    "a\tb",
    "a//b",
    "./a",
    "a/./b",
    "/",
    "x" * 2000,
]


@pytest.mark.parametrize("raw", REJECTED_PATHS)
def test_it_rejects_dangerous_paths(raw):
    with pytest.raises(InvalidArtifactPath) as caught:
        clean_artifact_path(raw)

    assert caught.value.status_code == 400
    assert "ruta" in str(caught.value.message)


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("", ""),
        (None, ""),
        ("metrics.json", "metrics.json"),
        ("plots/", "plots"),
        ("data/résumé ñ.txt", "data/résumé ñ.txt"),
        ("data/%E6%95%B0%E6%8D%AE.csv", "data/数据.csv"),
        ("a b/c d.txt", "a b/c d.txt"),
        ("100%.txt", "100%.txt"),
        ("..hidden/x..y", "..hidden/x..y"),
    ],
)
def test_it_keeps_ordinary_paths(raw, clean):
    assert clean_artifact_path(raw) == clean


def test_content_types_come_from_the_name():
    assert artifact_content_type("model/MLmodel") == "application/yaml"
    assert artifact_content_type("plots/a.PNG") == "image/png"
    assert artifact_content_type("plots/a.svg") == "image/svg+xml"
    assert artifact_content_type("data/数据.csv") == "text/csv"
    assert artifact_content_type("no-extension") == "application/octet-stream"
