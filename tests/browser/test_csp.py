"""Every page passes the Content Security Policy in a real Chromium, htmx-loaded parts included.

Violations are collected from the browser itself, three ways: the console's "Refused to ..."
errors, the ``securitypolicyviolation`` events of every frame, and the reports Chromium posts to
the policy's ``report-uri`` (/csp-report/, which logs them). A first test proves each of the
three catches a violation made on purpose, so an empty list later means something.

The pages come from the URL configuration: every named route is either visited (``PAGES``) or
listed in ``NOT_PAGES`` with the reason it is not a page of its own (both in pages.py, shared with
the layout and language check). A new route fails ``test_every_named_route_is_visited_or_explained``
until it is added to one of them.
"""

import time
from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver, reverse
from playwright.sync_api import Page

from tests.browser.pages import (
    HTMX_WATCH_SCRIPT,
    NOT_PAGES,
    PAGES,
    PageVisit,
    Site,
    is_api_view,
    named_routes,
    settle,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# --- collecting violations -------------------------------------------------------------------

WATCH_SCRIPT = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cauceCspViolation({
    document: event.documentURI,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
    policy: event.originalPolicy,
  });
}, true);
"""


@dataclass
class CspWatch:
    caplog: pytest.LogCaptureFixture
    events: list = field(default_factory=list)
    console: list = field(default_factory=list)

    def reports(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "cauce.csp"]

    def site_events(self) -> list[dict]:
        # The artifact previews' own policy ("sandbox; default-src 'none'") blocking the
        # artifact's scripts is that policy doing its job, not a violation of the site's.
        return [e for e in self.events if "report-uri /csp-report/" in e["policy"]]

    def site_console(self) -> list[str]:
        return [text for text in self.console if "default-src 'none'" not in text]

    def all(self) -> dict:
        return {
            "events": self.site_events(),
            "console": self.site_console(),
            "reports": self.reports(),
        }


@pytest.fixture
def csp_watch(page: Page, caplog) -> CspWatch:
    watch = CspWatch(caplog)

    def on_violation(violation: dict) -> None:
        watch.events.append(violation)

    page.context.expose_function("__cauceCspViolation", on_violation)
    page.context.add_init_script(HTMX_WATCH_SCRIPT)
    page.context.add_init_script(WATCH_SCRIPT)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            watch.console.append(f"{message.location.get('url')}: {message.text}")

    page.on("console", on_console)
    return watch


def wait_for_report(page: Page, watch: CspWatch, timeout: float = 15) -> None:
    """Chromium posts reports in the background: wait (bounded) for the first one. Waiting
    through the page lets Playwright deliver the exposed function's calls meanwhile."""
    deadline = time.monotonic() + timeout
    while not (watch.reports() and watch.events) and time.monotonic() < deadline:
        page.wait_for_timeout(100)


# --- the tests -------------------------------------------------------------------------------


def test_each_collector_catches_a_violation_made_on_purpose(
    live_server, logged_in_page, owner, csp_watch
):
    page = logged_in_page(owner, "pw-olga")
    page.goto(f"{live_server.url}{reverse('projects:project_list')}")
    page.wait_for_load_state("networkidle")
    assert csp_watch.all() == {"events": [], "console": [], "reports": []}

    page.evaluate(
        "document.head.insertAdjacentHTML('beforeend', '<style>body { color: red; }</style>')"
    )
    wait_for_report(page, csp_watch)
    found = csp_watch.all()
    assert [e["directive"] for e in found["events"]] == ["style-src-elem"]
    assert len(found["console"]) == 1 and "style-src" in found["console"][0]
    assert found["reports"] == [
        f"CSP violation: style-src-elem blocked inline on {live_server.url}/projects/"
    ]


def test_every_page_passes_the_content_security_policy(
    live_server, page, logged_in_page, site, csp_watch
):
    failures = {}
    for visit in (v for v in PAGES if v.anonymous):
        failures.update(_visit(page, live_server, site, visit, csp_watch))
    logged_in_page(site.owner, "pw-olga")
    for visit in (v for v in PAGES if not v.anonymous):
        failures.update(_visit(page, live_server, site, visit, csp_watch))
    # Reports arrive in the background: a last page, then every report must be none.
    page.goto(f"{live_server.url}{reverse('projects:project_list')}")
    page.wait_for_load_state("networkidle")
    assert failures == {}
    assert csp_watch.reports() == []


def _visit(page: Page, live_server, site: Site, visit: PageVisit, watch: CspWatch) -> dict:
    before = {key: len(value) for key, value in watch.all().items()}
    response = page.goto(f"{live_server.url}{visit.url(site)}")
    assert response is not None and response.status == 200, (visit.id, response and response.status)
    settle(page)
    if visit.steps:
        visit.steps(page)
        settle(page)
    new = {key: value[before[key] :] for key, value in watch.all().items()}
    return {visit.id: new} if any(new.values()) else {}


def test_every_named_route_is_visited_or_explained():
    visited = {visit.name for visit in PAGES}
    missing = []
    for name, pattern in named_routes(get_resolver()):
        if name.startswith("admin:") or name in visited or name in NOT_PAGES:
            continue
        view = getattr(pattern.callback, "cls", None)
        if view is not None and is_api_view(view):
            continue
        missing.append(name)
    assert missing == [], (
        "Routes neither visited nor explained: add each to PAGES or NOT_PAGES in "
        f"tests/browser/pages.py: {missing}"
    )


def test_deleting_a_dataset_still_asks_first_without_an_inline_handler(
    live_server, logged_in_page, owner, make_dataset, project, iris_csv_bytes, csp_watch
):
    from cauce.datasets.models import Dataset

    dataset = make_dataset(project, iris_csv_bytes, name="Para borrar")
    page = logged_in_page(owner, "pw-olga")
    page.goto(f"{live_server.url}{reverse('datasets:dataset_detail', args=[dataset.pk])}")
    questions = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Eliminar").click()
    assert questions == ["¿Eliminar este conjunto de datos? No se puede deshacer."]
    assert Dataset.objects.filter(pk=dataset.pk).exists()

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="Eliminar").click()
    page.wait_for_url(lambda url: "/datasets/" not in url)
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert csp_watch.all() == {"events": [], "console": [], "reports": []}
