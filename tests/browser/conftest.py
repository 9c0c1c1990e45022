import pytest

from tests.browser.pages import Site, build_site


@pytest.fixture
def site(make_run_experiment, iris_dataset, project, owner) -> Site:
    """The objects the visited pages are about (pages.PAGES)."""
    return build_site(make_run_experiment, iris_dataset, project, owner)
