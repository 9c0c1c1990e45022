# Shared fixtures live in tests/fixtures/, one module per subject.
pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.mlflow_server",
    "tests.fixtures.data",
    "tests.fixtures.worker",
    "tests.fixtures.browser",
    "tests.fixtures.artifacts",
]
