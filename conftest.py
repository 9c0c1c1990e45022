import os

# Shared fixtures live in tests/fixtures/, one module per subject.
pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.mlflow_server",
    "tests.fixtures.data",
    "tests.fixtures.worker",
    "tests.fixtures.browser",
    "tests.fixtures.artifacts",
    "tests.fixtures.storage",
    "tests.fixtures.web_server",
]


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`) the `slow` tests start first: one left for the end would
    run alone while the other worker has nothing left to take. A plain run keeps the order."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers collect, each to the same order
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable sort
