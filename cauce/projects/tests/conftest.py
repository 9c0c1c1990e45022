import pytest
from django.conf import settings
from django.utils import translation


@pytest.fixture(autouse=True)
def _default_language():
    # A request in English leaves English active in the thread; code run outside a request
    # (services) must start from the default language in every test.
    with translation.override(settings.LANGUAGE_CODE):
        yield
