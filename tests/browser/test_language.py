"""Chromium set to English (it sends ``Accept-Language: en-US``) still gets Spanish pages until
the user presses EN in the top bar; the choice then holds across pages and a new tab."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US"}


def test_an_english_browser_gets_spanish_until_the_user_chooses_english(page, context, live_server):
    requests_sent = []
    page.on("request", lambda request: requests_sent.append(request.headers))

    page.goto(f"{live_server.url}/accounts/login/")

    assert requests_sent[0]["accept-language"].startswith("en-US")
    expect(page.get_by_role("heading", level=1)).to_have_text("Iniciar sesión")
    expect(page.locator("html")).to_have_attribute("lang", "es")

    page.locator(".langswitch").get_by_role("button", name="EN").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    other_tab = context.new_page()
    other_tab.goto(f"{live_server.url}/accounts/login/")
    expect(other_tab.get_by_role("heading", level=1)).to_have_text("Log in")

    other_tab.locator(".langswitch").get_by_role("button", name="ES").click()

    expect(other_tab.get_by_role("heading", level=1)).to_have_text("Iniciar sesión")
