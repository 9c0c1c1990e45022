"""Every page has an icon: linked from base.html, and /favicon.ico (asked by browsers anyway)."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/cauce/favicon.svg")
    assert finders.find("cauce/favicon.svg")


def test_every_page_links_the_icon(client):
    body = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in body
    assert "cauce/favicon.svg" in body
