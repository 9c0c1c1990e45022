"""Pages of sweeps: a project's list and a sweep's page with its live progress."""

import hashlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError
from cauce.experiments.compare_charts import Point, as_number, parallel_svg
from cauce.experiments.forms import (
    ExperimentCreateForm,
    initial_from_query,
)
from cauce.experiments.selectors import experiment_tag_names
from cauce.experiments.views import COLUMN_FIELDS_ID, MODEL_FIELDS_ID
from cauce.integrations.mlflow.links import mlflow_run_url
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user
from cauce.sweeps import services
from cauce.sweeps.charts import history_chart, importance_bars
from cauce.sweeps.forms import SweepCreateForm
from cauce.sweeps.models import Sweep, Trial
from cauce.sweeps.selectors import sweep_get_for_user, sweep_list, sweep_trials

# ?sort= of the trials table: key -> how to order.
TRIAL_SORTS = {
    "number": lambda t: t.number,
    "status": lambda t: (t.status, t.number),
    "value": lambda t: (t.value is None, t.value if t.value is not None else 0.0, t.number),
    "duration": lambda t: (t.duration_seconds is None, t.duration_seconds or 0.0, t.number),
}


def _seconds_left(sweep: Sweep, trials: list[Trial]) -> int | None:
    """The trials still to run times the mean duration of the ended ones, spread over the
    trials run at once; None before any ended or once the sweep is over."""
    if not sweep.is_active:
        return None
    durations = [t.duration_seconds for t in trials if t.duration_seconds is not None]
    if not durations:
        return None
    left = sweep.n_trials - len(durations)
    parallel = max(1, min(settings.SWEEP_PARALLEL_TRIALS, left))
    return round(sum(durations) / len(durations) * left / parallel)


def _progress(sweep: Sweep, trials: list[Trial]) -> dict:
    done = sum(t.status in (Trial.Status.COMPLETE, Trial.Status.PRUNED) for t in trials)
    return {
        "seconds_left": _seconds_left(sweep, trials),
        "done": done,
        "running": sum(t.status == Trial.Status.RUNNING for t in trials),
        "waiting": sum(t.status == Trial.Status.WAITING for t in trials),
        "failed": sum(t.status == Trial.Status.FAIL for t in trials),
        "pruned": sum(t.status == Trial.Status.PRUNED for t in trials),
        "completed": sum(t.status == Trial.Status.COMPLETE for t in trials),
        "ran": sum(
            t.status in (Trial.Status.COMPLETE, Trial.Status.PRUNED, Trial.Status.FAIL)
            for t in trials
        ),
        "total": sweep.n_trials,
        "percent": round(
            100
            * (done + sum(t.status == Trial.Status.FAIL for t in trials))
            / max(sweep.n_trials, 1)
        ),
    }


@login_required
@require_GET
def sweep_list_view(request, project_pk):
    project, membership = project_get_for_user(user=request.user, project_id=project_pk)
    sweeps = sweep_list(project=project).annotate(
        trials_done=Count("trials", filter=~Q(trials__status__in=Trial.IN_FLIGHT))
    )
    return render(
        request,
        "sweeps/sweep_list.html",
        {"project": project, "sweeps": sweeps, "can_edit": membership.allows(Role.EDITOR)},
    )


def _param_text(value) -> str:
    """A sampled float with four significant digits (0.01234, 123.5); others as they are."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _trial_rows(sweep: Sweep, trials: list[Trial], sort: str) -> list[dict]:
    key = sort.lstrip("-")
    ordered = sorted(trials, key=TRIAL_SORTS.get(key, TRIAL_SORTS["number"]))
    if sort.startswith("-"):
        ordered.reverse()
    return [
        {
            "trial": trial,
            "run_url": mlflow_run_url(
                mlflow_experiment_id=sweep.mlflow_experiment_id, mlflow_run_id=trial.mlflow_run_id
            ),
            "is_best": trial.number == sweep.best_number,
            "params_text": ", ".join(
                f"{name}={_param_text(value)}" for name, value in trial.params.items()
            ),
        }
        for trial in ordered
    ]


def _parallel(sweep: Sweep, trials: list[Trial]):
    """Compare's parallel coordinates: one axis per searched parameter (a choice as its
    position in the list), then the metric; one line per completed trial (``data-id`` is its
    number, for the table's rows); log axes where the range is log."""
    completed = [t for t in trials if t.status == Trial.Status.COMPLETE and t.value is not None]
    if not completed or not sweep.search_space:
        return None
    axes = [*sweep.search_space, sweep.metric]

    def axis_value(name: str, value):
        choices = sweep.search_space.get(name, {}).get("choices")
        if choices and value in choices:
            return float(choices.index(value))
        return as_number(value)

    points = [
        Point(
            id=str(t.number),
            name=f"#{t.number}",
            values={
                **{name: axis_value(name, t.params.get(name)) for name in sweep.search_space},
                sweep.metric: t.value,
            },
        )
        for t in completed
    ]
    log_axes = {name for name, entry in sweep.search_space.items() if entry.get("log")}
    return parallel_svg(
        points=points, axes=axes, log_axes=log_axes, title=_("Coordenadas paralelas")
    )


def _seen(sweep: Sweep, trials: list[Trial]) -> str:
    """What the page shows of the sweep and its trials, in a few characters: the progress
    strip sends it back when it polls, and the rest of the page is rendered again when it
    changed."""
    state = (
        sweep.status,
        sweep.best_number,
        sweep.promoted_experiment_id,
        bool(sweep.importances),
        [(t.number, t.status, t.value) for t in trials],
    )
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def _sort(request) -> str:
    sort = request.GET.get("sort", "number")
    return sort if sort.lstrip("-") in TRIAL_SORTS else "number"


def _strip_context(request, sweep: Sweep, trials: list[Trial]) -> dict:
    progress = _progress(sweep, trials)
    return {
        "sweep": sweep,
        "progress": progress,
        # Polled while the sweep runs, and after a cancel until its running trials stop.
        "live": sweep.is_active or progress["running"] > 0,
        "seen": _seen(sweep, trials),
        "sort": _sort(request),
    }


def _detail_context(request, sweep: Sweep, trials: list[Trial], membership) -> dict:
    sort = _sort(request)
    return {
        **_strip_context(request, sweep, trials),
        "project": sweep.project,
        "rows": _trial_rows(sweep, trials, sort),
        "chart": history_chart(sweep=sweep, trials=trials),
        "parallel": _parallel(sweep, trials),
        "importances": importance_bars(sweep.importances or {}),
        "parent_url": mlflow_run_url(
            mlflow_experiment_id=sweep.mlflow_experiment_id, mlflow_run_id=sweep.mlflow_run_id
        ),
        "can_edit": membership.allows(Role.EDITOR),
    }


@login_required
@require_GET
def sweep_detail(request, pk):
    sweep, membership = sweep_get_for_user(user=request.user, sweep_id=pk)
    context = _detail_context(request, sweep, sweep_trials(sweep=sweep), membership)
    return render(request, "sweeps/sweep_detail.html", context)


@login_required
@require_GET
def sweep_progress(request, pk):
    """The live part of the page, polled by htmx while the sweep is queued or running: the
    progress strip, and the buttons and results when what the page shows has changed."""
    sweep, membership = sweep_get_for_user(user=request.user, sweep_id=pk)
    trials = sweep_trials(sweep=sweep)
    context = _strip_context(request, sweep, trials)
    if request.GET.get("seen") != context["seen"]:
        context = {**_detail_context(request, sweep, trials, membership), "changed": True}
    return render(request, "sweeps/_progress_response.html", context)


@login_required
@require_POST
def sweep_cancel(request, pk):
    sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk, role=Role.EDITOR)
    try:
        services.sweep_cancel(sweep=sweep, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Barrido cancelado."))
    return redirect("sweeps:sweep_detail", pk=sweep.pk)


@login_required
@require_POST
def sweep_promote(request, pk):
    sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk, role=Role.EDITOR)
    try:
        experiment = services.sweep_promote(sweep=sweep, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("sweeps:sweep_detail", pk=sweep.pk)
    messages.success(request, _("Experimento creado con los parámetros de la mejor prueba."))
    return redirect("experiments:ml_experiment_detail", pk=experiment.pk)


@login_required
@require_POST
def sweep_rerun(request, pk):
    sweep, _membership = sweep_get_for_user(user=request.user, sweep_id=pk, role=Role.EDITOR)
    try:
        again = services.sweep_rerun(sweep=sweep, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("sweeps:sweep_detail", pk=sweep.pk)
    messages.success(request, _("Barrido lanzado de nuevo con los mismos ajustes."))
    return redirect("sweeps:sweep_detail", pk=again.pk)


MODEL_FIELDS_TEMPLATE = "sweeps/_model_fields.html"


def _create_initial(query) -> dict:
    """Initial values from a query: what was typed in the experiment form (dataset, target,
    algorithm, fixed values), posted by its "Buscar hiperparámetros" or in the address."""
    return initial_from_query(
        query, [*ExperimentCreateForm.base_fields, *SweepCreateForm.base_fields]
    )


def _create_address(project_pk, query) -> str:
    """The sweep form's address with the form's own values only (never the CSRF token, nor
    the experiment form's buttons), the empty ones left out."""
    initial = {name: value for name, value in _create_initial(query).items() if value != ""}
    url = reverse("sweeps:sweep_create", args=[project_pk])
    return f"{url}?{urlencode(initial, doseq=True)}" if initial else url


@login_required
@require_http_methods(["GET", "POST"])
def sweep_create_view(request, project_pk):
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.EDITOR
    )
    context = {
        "column_fields_id": COLUMN_FIELDS_ID,
        "model_fields_id": MODEL_FIELDS_ID,
        "model_fields_template": MODEL_FIELDS_TEMPLATE,
    }
    if request.method == "POST" and "from_experiment" in request.POST:
        # The experiment form's "Buscar hiperparámetros": its values, in a clean address.
        return redirect(_create_address(project.pk, request.POST))
    if request.method == "GET" and "csrfmiddlewaretoken" in request.GET:
        # That button's former GET submission (old bookmarks): the same clean address.
        return redirect(_create_address(project.pk, request.GET))
    if request.method == "POST":
        form = SweepCreateForm(request.POST, project=project)
        if form.is_valid():
            try:
                with transaction.atomic():
                    sweep = services.sweep_create(
                        project=project, user=request.user, **form.service_arguments()
                    )
            except ApplicationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Barrido creado y en marcha."))
                return redirect("sweeps:sweep_detail", pk=sweep.pk)
    else:
        form = SweepCreateForm(initial=_create_initial(request.GET), project=project)
        context["form"] = form
        if request.htmx and request.htmx.target == COLUMN_FIELDS_ID:
            return render(request, "experiments/_column_fields_response.html", context)
        if request.htmx and request.htmx.target == MODEL_FIELDS_ID:
            return render(request, MODEL_FIELDS_TEMPLATE, context)
    context.update(
        {"project": project, "form": form, "tag_names": experiment_tag_names(projects=project)}
    )
    return render(request, "sweeps/sweep_form.html", context)
