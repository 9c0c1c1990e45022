"""Artifact runs shared by this app's tests: nested folders, binary and unicode names."""

import pytest
from django.core.cache import cache

BINARY = bytes(range(256)) * 4

RUN_FILES = {
    "metrics.json": b'{"f1": 0.9}',
    "plots/confusion matrix.png": b"\x89PNG\r\n\x1a\n" + BINARY,
    "plots/roc.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "data/résumé ñ.txt": "línea uno\nlínea dos\n".encode(),
    "data/数据.csv": b"a,b\n1,2\n",
    "data/deep/nested/blob.bin": BINARY,
    "report.html": b"<html><script>alert(1)</script><p>hola</p></html>",
}

MODEL_FILES = {
    "MLmodel": b"artifact_path: model\nflavors:\n  python_function: {}\n",
    "requirements.txt": b"scikit-learn==1.5.0\n",
    "input_example.json": b'{"columns": ["a"], "data": [[1]]}',
    "model.pkl": BINARY,
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Listings of ended runs are cached; each test starts from a cold cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def run_experiment(make_run_experiment):
    """A finished experiment whose run holds RUN_FILES and a logged model with MODEL_FILES."""
    return make_run_experiment(RUN_FILES, model_files=MODEL_FILES, name="Árbol de pruebas")
