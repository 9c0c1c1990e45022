"""The pages the browser suites visit, and the objects they are about.

Shared by the Content Security Policy check (test_csp.py) and the layout and language check
(test_pages_check.py), and by the README's screenshots (test_screenshots.py): one list of
pages, one way to build the site they show.

Every named route is either visited (``PAGES``) or listed in ``NOT_PAGES`` with the reason it is
not a page of its own; test_csp.py fails on a route in neither.

Steps name buttons and tabs through ``gettext``: called inside ``translation.override(lang)``
they find the English page's names as well as the Spanish ones.
"""

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.urls import URLResolver, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from cauce.artifacts.tests.test_preview import FILES
from cauce.experiments.models import MLExperiment

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
    finished_prediction: object = None


@dataclass
class PageVisit:
    name: str
    kwargs: Callable[[Site], dict] = lambda site: {}
    query: Callable[[Site], dict] = lambda site: {}
    # What a user does on the page after it loads (open tabs, previews...).
    steps: Callable[[Page], None] | None = None
    anonymous: bool = False
    label: str = ""
    # Steps that change data (a POST) run once, in the policy check, not on every visit.
    steps_change_data: bool = False

    def url(self, site: Site) -> str:
        query = self.query(site)
        return reverse(self.name, kwargs=self.kwargs(site)) + (
            "?" + urlencode(query, doseq=True) if query else ""
        )

    @property
    def id(self) -> str:
        return self.label or self.name


def _open_monitoring_tab(page: Page) -> None:
    page.get_by_role("tab", name=_("Monitorización")).click()
    expect(
        page.locator("#monitoring-panel .monitor-figures, #monitoring-panel table")
    ).not_to_have_count(0)


def _open_experiment_tabs(page: Page) -> None:
    page.get_by_role("tab", name=_("Gráficos")).click()
    page.get_by_role("tab", name=_("Artefactos de MLflow")).click()
    expect(page.locator("#artifacts-tab")).to_be_visible()
    # A folder opened in place (htmx), then a preview inside the tab (htmx).
    # The folder's name (the summary's middle holds its ZIP link on a narrow page).
    page.locator("li.artifact-folder summary .artifact-name", has_text="plots/").click()
    row = page.locator("li.artifact-file", has_text="plot.png")
    row.get_by_role("link", name=_("Vista previa")).click()
    expect(page.locator("#artifacts-tab [data-artifact-preview] img")).to_be_visible()
    page.locator("li.artifact-file", has_text="report.html").get_by_role(
        "link", name=_("Vista previa")
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


def _sweep(site: Site) -> dict:
    """A finished sweep of the site's project, with its trials (made on first use)."""
    from cauce.sweeps.models import Sweep, Trial

    sweep = Sweep.objects.filter(project=site.project).first()
    if sweep is None:
        sweep = Sweep.objects.create(
            project=site.project,
            dataset=site.dataset,
            dataset_version=site.dataset.versions.get(version=1),
            name="Barrido del navegador",
            target_column="species",
            feature_columns=["sepal_length", "petal_length"],
            task_type="classification",
            algorithm="DecisionTreeClassifier",
            search_space={"max_depth": {"type": "int", "low": 1, "high": 3, "log": False}},
            metric="accuracy",
            direction="maximize",
            n_trials=3,
            sampler="grid",
            status=Sweep.Status.FINISHED,
            best_number=1,
            best_value=0.95,
            best_params={"max_depth": 2},
            importances={"max_depth": 1.0},
            created_by=site.owner,
        )
        for number, value in enumerate([0.6, 0.95, 0.93]):
            Trial.objects.create(
                sweep=sweep,
                number=number,
                optuna_trial_id=number + 1,
                status=Trial.Status.COMPLETE,
                params={"max_depth": number + 1},
                value=value,
                duration_seconds=0.1,
            )
    return {"pk": sweep.pk}


def _version_with_sweep(site: Site) -> dict:
    """Version 1, which the site's sweep trains on (its lineage lists it)."""
    _sweep(site)
    return {"pk": site.dataset.pk, "version": 1}


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
    PageVisit("datasets:dataset_version_create", kwargs=lambda s: {"pk": s.dataset.pk}),
    PageVisit("datasets:dataset_version_detail", kwargs=_version_with_sweep),
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
    PageVisit("sweeps:sweep_list", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("sweeps:sweep_create", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("sweeps:sweep_detail", kwargs=_sweep),
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
    PageVisit(
        "registry:model_detail",
        kwargs=lambda s: {"name": s.model_name},
        steps=_open_monitoring_tab,
        label="registry:model_detail (Monitorización tab)",
    ),
    PageVisit("registry:version_detail", kwargs=lambda s: {"name": s.model_name, "version": 1}),
    PageVisit(
        "registry:version_detail",
        kwargs=lambda s: {"name": s.model_name, "version": 1},
        steps=_open_monitoring_tab,
        label="registry:version_detail (Monitorización tab)",
    ),
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
        steps_change_data=True,
    ),
    PageVisit(
        "registry:prediction_detail",
        kwargs=lambda s: {"name": s.model_name, "job_id": s.finished_prediction.pk},
        label="registry:prediction_detail (finished, with probabilities)",
    ),
    PageVisit("monitoring:model_monitoring", kwargs=lambda s: {"name": s.model_name}),
    PageVisit(
        "monitoring:version_monitoring",
        kwargs=lambda s: {"name": s.model_name, "version": 1},
        query=lambda s: {"window": "1h"},
    ),
    PageVisit("monitoring:project_alerts", kwargs=lambda s: {"project_pk": s.project.pk}),
    PageVisit("monitoring:project_settings", kwargs=lambda s: {"project_pk": s.project.pk}),
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
    "favicon": "redirects to the static icon (cauce/favicon.svg)",
    "experiments:ml_experiment_compare_csv": "file download (the comparison's CSV)",
    "logout": "POST only",
    "set_language": "POST only (the language switch on every page)",
    "health": "JSON",
    "health_live": "JSON",
    "health_ready": "JSON",
    "csp_report": "POST only, receives the reports",
    "mlflow_status": "partial, loaded by htmx on every page",
    "projects:project_member_role": "POST only",
    "monitoring:version_refresh": "POST only (Recalcular)",
    "monitoring:alert_acknowledge": "POST only",
    "monitoring:alerts_acknowledge_all": "POST only (Marcar todas como vistas)",
    "monitoring:webhook_test": "POST only (Enviar prueba)",
    "projects:project_member_remove": "POST only",
    "datasets:dataset_download": "file download",
    "datasets:dataset_delete": "POST only",
    "datasets:dataset_version_download": "file download",
    "datasets:dataset_version_delete": "POST only",
    "registry:dataset_version_models": "partial, loaded by htmx on a dataset version's page",
    "experiments:ml_experiment_run": "POST only",
    "experiments:ml_experiment_cancel": "POST only",
    "experiments:ml_experiment_bulk_tags": "POST only",
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
    "sweeps:sweep_progress": "partial, polled by htmx while a sweep is queued or running",
    "sweeps:sweep_cancel": "POST only",
    "sweeps:sweep_promote": "POST only",
    "sweeps:sweep_rerun": "POST only",
    "artifacts:tab": "partial, loaded by the experiment page's artifacts tab",
    "artifacts:folder": "partial, loaded when a folder of the artifacts tab opens",
    "artifacts:download": "file download (inline previews carry their own sandbox policy)",
    "artifacts:zip": "file download",
    "api-token": "API (JSON)",
    "schema": "API (OpenAPI document)",
    "api_root": "API (JSON)",
}


# --- the objects -----------------------------------------------------------------------------


METRICS = {"accuracy": 0.8769642857142856, "f1_macro": 0.8712030075187969}


def build_site(make_run_experiment, iris_dataset, project, owner) -> Site:
    """The site of the pages (the ``site`` fixture of tests/browser/conftest.py)."""
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
    model_name = f"pages-{uuid.uuid4().hex[:8]}"
    for registered in (experiment, other):
        # Metrics as a model computes them (the pages round them, the API keeps them whole).
        MLExperiment.objects.filter(pk=registered.pk).update(metrics=METRICS)
        registered.refresh_from_db()
        model_version_register(experiment=registered, user=owner, name=model_name)
    queued = MLExperiment.objects.create(
        project=project,
        dataset=iris_dataset,
        # Not a message of the catalogs: a name the language check would take for one.
        name="Iris 3",
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
    _monitoring(RegisteredModel.objects.get(name=model_name), experiment)
    return Site(
        project,
        iris_dataset,
        experiment,
        other,
        queued,
        owner,
        model_name,
        failed_prediction,
        _finished_prediction(failed_prediction.registered_model, owner),
    )


def _monitoring(model, experiment) -> None:
    """Version 1's predictions of the last hour (one input shifted), computed: charts, a
    flagged feature and its alerts."""
    from cauce.monitoring.tests.support import monitoring_data
    from cauce.monitoring.windows import monitoring_refresh

    columns = ["sepal_length", "petal_length", "petal_width", "species"]
    monitoring_data(model=model, experiment=experiment, version=1, columns=columns)
    monitoring_refresh(model=model, version=1)


# A result as the model's serving writes it: the input's columns, the prediction, and the
# probability of each class in full.
RESULT_CSV = (
    "sepal_length,sepal_width,petal_length,petal_width,prediction,"
    "probability_setosa,probability_versicolor,probability_virginica\n"
    "5.1,3.5,1.4,0.2,setosa,0.9733333333333334,0.02666666666666667,0.0\n"
    "6.7,3.0,5.2,2.3,virginica,0.0,0.03571428571428571,0.9642857142857143\n"
)


def _finished_prediction(registered_model, owner):
    from cauce.registry.models import PredictionJob

    job = PredictionJob.objects.create(
        registered_model=registered_model,
        version=1,
        source=PredictionJob.Source.FILE,
        original_filename="flores.csv",
        probabilities=True,
        status=PredictionJob.Status.FINISHED,
        rows_total=2,
        rows_done=2,
        columns=RESULT_CSV.splitlines()[0].split(","),
        created_by=owner,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    folder = Path(settings.MEDIA_ROOT) / PredictionJob.storage_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.csv").write_text(RESULT_CSV)
    job.result_file.name = str(PredictionJob.storage_dir(job) / "result.csv")
    job.save(update_fields=["result_file"])
    return job


# --- visiting ------------------------------------------------------------------------------

# Counts htmx's requests in flight, so that a visit waits for the parts htmx loads.
HTMX_WATCH_SCRIPT = """
window.__cauceHtmxInFlight = 0;
document.addEventListener("htmx:beforeRequest", () => { window.__cauceHtmxInFlight += 1; });
document.addEventListener("htmx:afterRequest", () => { window.__cauceHtmxInFlight -= 1; });
"""


def settle(page: Page) -> None:
    """Wait until the page's requests, htmx ones included, are done."""
    # A page that polls (a queued experiment's status) may never be idle for long.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=10_000)
    page.wait_for_function("() => (window.__cauceHtmxInFlight || 0) === 0", timeout=15_000)
    page.wait_for_timeout(300)  # lets Playwright deliver the events seen meanwhile


def named_routes(resolver: URLResolver, namespace: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from named_routes(pattern, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}", pattern


def is_api_view(view) -> bool:
    from rest_framework.views import APIView

    from cauce.api.views import SwaggerUIView

    return issubclass(view, APIView) and not issubclass(view, SwaggerUIView)
