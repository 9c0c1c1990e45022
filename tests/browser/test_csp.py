"""Every page passes the Content Security Policy in a real Chromium, htmx-loaded parts included.

Violations are collected from the browser itself, three ways: the console's "Refused to ..."
errors, the ``securitypolicyviolation`` events of every frame, and the reports Chromium posts to
the policy's ``report-uri`` (/csp-report/, which logs them). A first test proves each of the
three catches a violation made on purpose, so an empty list later means something.

The pages come from the URL configuration: every named route is either visited (``PAGES``) or
listed in ``NOT_PAGES`` with the reason it is not a page of its own. A new route fails
``test_every_named_route_is_visited_or_explained`` until it is added to one of them.
"""

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from cauce.artifacts.tests.test_preview import FILES
from cauce.experiments.models import MLExperiment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# --- what is visited -------------------------------------------------------------------------


@dataclass
class Site:
    """The objects the pages are about."""

    project: object
    dataset: object
    experiment: object
    other_experiment: object
    queued_experiment: object
    owner: object
    model_name: str
    prediction_job: object = None


@dataclass
class PageVisit:
    name: str
    kwargs: Callable[[Site], dict] = lambda site: {}
    query: Callable[[Site], dict] = lambda site: {}
    # What a user does on the page after it loads (open tabs, previews...).
    steps: Callable[[Page], None] | None = None
    anonymous: bool = False
    label: str = ""

    def url(self, site: Site) -> str:
        query = self.query(site)
        return reverse(self.name, kwargs=self.kwargs(site)) + (
            "?" + urlencode(query, doseq=True) if query else ""
        )

    @property
    def id(self) -> str:
        return self.label or self.name


def _open_experiment_tabs(page: Page) -> None:
    page.get_by_role("tab", name="Gráficos").click()
    page.get_by_role("tab", name="Artefactos de MLflow").click()
    expect(page.locator("#artifacts-tab")).to_be_visible()
    # A folder opened in place (htmx), then a preview inside the tab (htmx).
    page.locator("li.artifact-folder summary", has_text="plots/").click()
    row = page.locator("li.artifact-file", has_text="plot.png")
    row.get_by_role("link", name="Vista previa").click()
    expect(page.locator("#artifacts-tab [data-artifact-preview] img")).to_be_visible()
    page.locator("li.artifact-file", has_text="report.html").get_by_role(
        "link", name="Vista previa"
    ).click()
    expect(page.locator("#artifacts-tab [data-artifact-preview] iframe")).to_be_visible()
    # The artifact's HTML shows in its sandbox (its own policy blocks the artifact's script).
    frame = page.frame_locator("#artifacts-tab [data-artifact-preview] iframe")
    expect(frame.locator("p")).to_have_text("hola")


def _retry_prediction(page: Page) -> None:
    # The failed job kept its input: "Reintentar" queues it again (a POST), and the page
    # comes back with the live status that htmx polls.
    page.get_by_role("button", name="Reintentar").click()
    expect(page.get_by_text("Predicción en cola de nuevo con el mismo archivo.")).to_be_visible()
    expect(page.locator("#prediction-status")).to_contain_text("En cola")


def _experiment(site: Site) -> dict:
    return {"pk": site.experiment.pk}


def _preview(path: str) -> PageVisit:
    return PageVisit(
        "artifacts:preview",
        kwargs=_experiment,
        query=lambda site: {"path": path},
        label=f"artifacts:preview {path}",
    )


PAGES: list[PageVisit] = [
    PageVisit("login", anonymous=True),
    PageVisit("projects:project_list"),
    PageVisit("projects:project_create"),
    PageVisit("projects:project_detail", kwargs=lambda s: {"pk": s.project.pk}),
    PageVisit("projects:project_edit", kwargs=lambda s: {"pk": s.project.pk}),
    PageVisit("projects:project_members", kwargs=lambda s: {"pk": s.project.pk}),
    PageVisit("datasets:dataset_create", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("datasets:dataset_detail", kwargs=lambda s: {"pk": s.dataset.pk}),
    PageVisit("experiments:ml_experiment_list", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("experiments:ml_experiment_all"),
    PageVisit(
        "experiments:ml_experiment_all",
        query=lambda s: {"tags": "navegador", "status": "FINISHED"},
        label="experiments:ml_experiment_all (filtered)",
    ),
    PageVisit(
        "experiments:ml_experiment_compare",
        query=lambda s: {"ids": f"{s.experiment.pk},{s.other_experiment.pk}", "all": "1"},
    ),
    PageVisit("experiments:ml_experiment_create", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("experiments:ml_experiment_detail", kwargs=_experiment, steps=_open_experiment_tabs),
    PageVisit(
        "experiments:ml_experiment_detail",
        kwargs=lambda s: {"pk": s.queued_experiment.pk},
        label="experiments:ml_experiment_detail (queued: live status)",
    ),
    PageVisit("experiments:ml_experiment_edit", kwargs=_experiment),
    *(
        _preview(path)
        for path in (
            "plots/plot.png",
            "plots/evil.svg",
            "logs/train.log",
            "metrics.json",
            "config.yaml",
            "data/table.csv",
            "README.md",
            "report.html",
            "report.pdf",
            "weights.bin",
        )
    ),
    PageVisit(
        "artifacts:compare",
        kwargs=lambda s: {"project_pk": s.project.pk},
        query=lambda s: {"experiments": [str(s.experiment.pk), str(s.other_experiment.pk)]},
        label="artifacts:compare (picker)",
    ),
    PageVisit(
        "artifacts:compare",
        kwargs=lambda s: {"project_pk": s.project.pk},
        query=lambda s: {
            "experiments": [str(s.experiment.pk), str(s.other_experiment.pk)],
            "path": "metrics.json",
        },
        label="artifacts:compare metrics.json",
    ),
    PageVisit("registry:model_list"),
    PageVisit("registry:project_models", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("registry:model_detail", kwargs=lambda s: {"name": s.model_name}),
    PageVisit("registry:version_detail", kwargs=lambda s: {"name": s.model_name, "version": 1}),
    PageVisit(
        "registry:version_delete",
        kwargs=lambda s: {"name": s.model_name, "version": 2},
        label="registry:version_delete (confirmation)",
    ),
    PageVisit("registry:compare", kwargs=lambda s: {"name": s.model_name}),
    PageVisit(
        "registry:compare",
        kwargs=lambda s: {"name": s.model_name},
        query=lambda s: {"versions": ["1", "2"]},
        label="registry:compare v1 v2",
    ),
    PageVisit("registry:predict", kwargs=lambda s: {"name": s.model_name}),
    PageVisit(
        "registry:prediction_detail",
        kwargs=lambda s: {"name": s.model_name, "job_id": s.prediction_job.pk},
        steps=_retry_prediction,
    ),
    PageVisit(
        "swagger-ui", steps=lambda page: expect(page.locator(".swagger-ui .info")).to_be_visible()
    ),
    PageVisit("admin:index"),
    PageVisit("admin:auth_user_changelist"),
    PageVisit("admin:auth_user_change", kwargs=lambda s: {"object_id": s.owner.pk}),
    PageVisit("admin:projects_project_add"),
    PageVisit(
        "admin:experiments_mlexperiment_change", kwargs=lambda s: {"object_id": s.experiment.pk}
    ),
]

# Named routes that are not pages of their own, and why.
NOT_PAGES: dict[str, str] = {
    "home": "redirects to the project list",
    "logout": "POST only",
    "set_language": "POST only (the language switch on every page)",
    "health": "JSON",
    "health_live": "JSON",
    "health_ready": "JSON",
    "csp_report": "POST only, receives the reports",
    "mlflow_status": "partial, loaded by htmx on every page",
    "projects:project_member_role": "POST only",
    "projects:project_member_remove": "POST only",
    "datasets:dataset_download": "file download",
    "datasets:dataset_delete": "POST only",
    "experiments:ml_experiment_run": "POST only",
    "experiments:ml_experiment_cancel": "POST only",
    "experiments:ml_experiment_bulk_tags": "POST only",
    "experiments:ml_experiment_compare_csv": "file download (the comparison's CSV)",
    "experiments:register_model": "POST only",
    "experiments:ml_experiment_plots": "partial, the plots tab's retry (htmx)",
    "experiments:ml_experiment_tag_sync": "partial, polled by htmx while a tag sync is pending",
    "registry:experiment_registry": "partial, loaded by htmx on the experiment page",
    "registry:model_edit": "POST only",
    "registry:alias_set": "POST only",
    "registry:alias_delete": "POST only",
    "registry:version_edit": "POST only",
    "registry:prediction_status": "partial, polled by htmx while a prediction job runs",
    "registry:prediction_download": "file download",
    "registry:prediction_retry": "POST only (the failed prediction's page, visited, clicks it)",
    "experiments:ml_experiment_status": "partial, polled by htmx on a queued experiment's page",
    "artifacts:tab": "partial, loaded by the experiment page's artifacts tab",
    "artifacts:folder": "partial, loaded when a folder of the artifacts tab opens",
    "artifacts:download": "file download (inline previews carry their own sandbox policy)",
    "artifacts:zip": "file download",
    "api-token": "API (JSON)",
    "schema": "API (OpenAPI document)",
    "api_root": "API (JSON)",
}
# The API's JSON routes (DRF) are not pages: they are recognised by their module.
API_MODULES = ("cauce.", "rest_framework")


# --- collecting violations -------------------------------------------------------------------

WATCH_SCRIPT = """
window.__cauceHtmxInFlight = 0;
document.addEventListener("htmx:beforeRequest", () => { window.__cauceHtmxInFlight += 1; });
document.addEventListener("htmx:afterRequest", () => { window.__cauceHtmxInFlight -= 1; });
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


# --- the objects -----------------------------------------------------------------------------


@pytest.fixture
def site(make_run_experiment, iris_dataset, project, owner) -> Site:
    from cauce.registry.services import model_version_register
    from cauce.registry.tests.conftest import IRIS_COLUMNS, mlmodel_bytes

    owner.is_staff = owner.is_superuser = True
    owner.save()
    model_files = {"MLmodel": mlmodel_bytes(IRIS_COLUMNS)}
    experiment = make_run_experiment(
        FILES, name="Con artefactos", dataset=iris_dataset, model_files=model_files
    )
    other = make_run_experiment(
        {"metrics.json": b'{"f1": 0.5}'},
        name="Otro",
        dataset=iris_dataset,
        model_files=model_files,
    )
    # The session's MLflow server outlives the test database: a name of this test's own.
    model_name = f"csp-{uuid.uuid4().hex[:8]}"
    for registered in (experiment, other):
        MLExperiment.objects.filter(pk=registered.pk).update(metrics={"accuracy": 0.9})
        registered.refresh_from_db()
        model_version_register(experiment=registered, user=owner, name=model_name)
    queued = MLExperiment.objects.create(
        project=project,
        dataset=iris_dataset,
        name="En cola",
        target_column="species",
        feature_columns=["sepal_length"],
        task_type="classification",
        algorithm="RandomForestClassifier",
        status=MLExperiment.Status.QUEUED,
        created_by=owner,
    )
    from cauce.registry.models import PredictionJob, RegisteredModel

    failed_prediction = PredictionJob.objects.create(
        registered_model=RegisteredModel.objects.get(name=model_name),
        version=1,
        source=PredictionJob.Source.FILE,
        original_filename="filas.csv",
        status=PredictionJob.Status.ERROR,
        error="MLflow no disponible",
        created_by=owner,
        finished_at=timezone.now(),
    )
    # Its input, kept for a retry as the worker leaves it.
    folder = Path(settings.MEDIA_ROOT) / PredictionJob.storage_dir(failed_prediction)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input").write_text("sepal_length,sepal_width,petal_length,petal_width\n5,3,1,0\n")
    failed_prediction.input_file.name = str(PredictionJob.storage_dir(failed_prediction) / "input")
    failed_prediction.save(update_fields=["input_file"])
    return Site(
        project, iris_dataset, experiment, other, queued, owner, model_name, failed_prediction
    )


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
    _settle(page, visit)
    if visit.steps:
        visit.steps(page)
        _settle(page, visit)
    new = {key: value[before[key] :] for key, value in watch.all().items()}
    return {visit.id: new} if any(new.values()) else {}


def _settle(page: Page, visit: PageVisit) -> None:
    """Wait until the page's requests, htmx ones included, are done."""
    # A page that polls (a queued experiment's status) may never be idle for long.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=10_000)
    page.wait_for_function("() => (window.__cauceHtmxInFlight || 0) === 0", timeout=15_000)
    page.wait_for_timeout(300)  # lets Playwright deliver the violations seen meanwhile


def _named_routes(resolver: URLResolver, namespace: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_routes(pattern, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}", pattern


def test_every_named_route_is_visited_or_explained():
    visited = {visit.name for visit in PAGES}
    missing = []
    for name, pattern in _named_routes(get_resolver()):
        if name.startswith("admin:") or name in visited or name in NOT_PAGES:
            continue
        view = getattr(pattern.callback, "cls", None)
        if view is not None and _is_api_view(view):
            continue
        missing.append(name)
    assert missing == [], (
        "Routes neither visited nor explained: add each to PAGES or NOT_PAGES in "
        f"tests/browser/test_csp.py: {missing}"
    )


def _is_api_view(view) -> bool:
    from rest_framework.views import APIView

    from cauce.api.views import SwaggerUIView

    return issubclass(view, APIView) and not issubclass(view, SwaggerUIView)


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
