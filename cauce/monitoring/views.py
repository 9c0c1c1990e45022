"""Monitoring's pages: a model's and a version's "Monitorización" tab, the project's alerts.

They read only Cauce's database (never MLflow): they answer with MLflow down.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cauce.core.exceptions import ApplicationError
from cauce.core.numbers import significant
from cauce.monitoring import alerts as alert_services
from cauce.monitoring import charts, selectors, services
from cauce.monitoring.forms import MonitoringSettingsForm
from cauce.monitoring.models import Alert, DriftResult, Window
from cauce.monitoring.windows import WINDOWS, monitoring_refresh, thresholds_for
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user
from cauce.registry.selectors import registered_model_get_for_user

SORTS = {
    "feature": lambda r: r.feature,
    "psi": lambda r: -(r.psi if r.psi is not None else -1),
    "p_value": lambda r: r.p_value if r.p_value is not None else 2,
    "flag": lambda r: (not r.flagged, r.feature),
}


def _window(request) -> str:
    window = request.GET.get("window") or Window.DAY
    try:
        return selectors.window_check(window)
    except ApplicationError as error:
        messages.error(request, error.message)
        return Window.DAY


def _in_tab(request) -> bool:
    """An htmx request: the model's or version's page asks for the tab's content only."""
    return request.headers.get("HX-Request") == "true"


def _tab(request, template: str, context: dict):
    response = render(request, template, {**context, "in_tab": True})
    patch_vary_headers(response, ["HX-Request"])
    # The tab's links are boosted (htmx): the address stays the model's or version's page.
    response["HX-Push-Url"] = "false"
    return response


def _period_label(moment, window: str) -> str:
    return formats.date_format(moment, "d/m" if window == Window.WEEK else "H:i")


@login_required
@require_GET
def model_monitoring(request, name: str):
    model, _membership = registered_model_get_for_user(user=request.user, name=name)
    window = _window(request)
    context = {
        "model": model,
        "project": model.project,
        "window": window,
        "windows": Window.choices,
        "versions": selectors.model_versions_usage(model=model, window=window),
        "aliases": selectors.alias_shares(model=model, window=window),
        "alert_groups": selectors.alert_groups(
            Alert.objects.filter(registered_model=model, acknowledged_at__isnull=True)
            .select_related("registered_model")
            .order_by("-created_at")[:150]
        ),
        "page_title": _("Monitorización"),
        "base_url": request.path,
    }
    if _in_tab(request):
        return _tab(request, "monitoring/_model_monitoring_body.html", context)
    return render(request, "monitoring/model_monitoring.html", context)


@login_required
@require_GET
def version_monitoring(request, name: str, version: int):
    model, membership = registered_model_get_for_user(user=request.user, name=name)
    window = _window(request)
    summary = selectors.version_monitoring(model=model, version=version, window=window)
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else "flag"
    drift = sorted(summary.drift, key=SORTS[sort])
    stored = selectors.version_reference(model=model, version=version)
    series = selectors.usage_series(model=model, version=version, window=window)
    labels = [_period_label(moment, window) for moment, _r, _n in series]
    chosen = _chosen_feature(request.GET.get("feature"), drift)
    context = {
        "model": model,
        "project": model.project,
        "number": version,
        "window": window,
        "windows": Window.choices,
        "summary": summary,
        "drift": drift,
        "sort": sort,
        "chosen": chosen,
        "has_profile": stored is not None,
        "min_rows": thresholds_for(model.project_id).min_rows,
        "no_profile": selectors.no_profile_message(version),
        "can_edit": membership.allows(Role.EDITOR),
        "error_rate": _error_rates(summary),
        "requests_chart": charts.bars_svg(
            points=[(label, n) for label, (_m, n, _rows) in zip(labels, series, strict=True)],
            title=_("Peticiones por periodo"),
        ),
        "rows_chart": charts.bars_svg(
            points=[(label, rows) for label, (_m, _n, rows) in zip(labels, series, strict=True)],
            title=_("Filas por periodo"),
        ),
        "histogram": _histogram(stored, chosen),
        "base_url": request.path,
    }
    if _in_tab(request):
        return _tab(request, "monitoring/_version_monitoring_body.html", context)
    return render(request, "monitoring/version_monitoring.html", context)


def _chosen_feature(name: str | None, drift: list[DriftResult]) -> DriftResult | None:
    for result in drift:
        if result.feature == name:
            return result
    return drift[0] if drift else None


def _error_rates(summary) -> list[tuple[str, int, float]]:
    from cauce.monitoring.models import PredictionRecord

    names = dict(PredictionRecord.Outcome.choices)
    total = summary.requests or 1
    return [(names[kind], n, n / total) for kind, n in summary.errors.items()]


def _histogram(stored, chosen: DriftResult | None):
    if stored is None or chosen is None:
        return None
    feature = next((f for f in stored.profile["features"] if f["name"] == chosen.feature), None)
    if feature is None:
        return None
    return charts.histogram_svg(
        labels=selectors.bin_labels(feature),
        reference=chosen.reference,
        current=chosen.current,
        title=_("%(feature)s: entrenamiento y ventana actual") % {"feature": chosen.feature},
        reference_name=_("Entrenamiento"),
        current_name=_("Actual"),
        edges=[significant(edge) for edge in feature["edges"]]
        if feature["kind"] == "numeric"
        else None,
    )


@login_required
@require_POST
def version_refresh(request, name: str, version: int):
    model, _membership = registered_model_get_for_user(
        user=request.user, name=name, role=Role.EDITOR
    )
    if selectors.version_reference(model=model, version=version) is None:
        messages.error(request, selectors.no_profile_message(version))
    else:
        flagged = monitoring_refresh(model=model, version=version)
        messages.success(
            request,
            ngettext(
                "Ventanas recalculadas: %(count)s variable marcada.",
                "Ventanas recalculadas: %(count)s variables marcadas.",
                flagged,
            )
            % {"count": flagged},
        )
    url = reverse("monitoring:version_monitoring", args=[model.name, version])
    window = request.POST.get("window")
    return redirect(f"{url}?window={window}" if window in WINDOWS else url)


@login_required
@require_GET
def project_alerts(request, project_pk: int):
    project, membership = project_get_for_user(user=request.user, project_id=project_pk)
    show_all = request.GET.get("all") == "1"
    open_models = sorted(
        set(
            Alert.objects.filter(project=project, acknowledged_at__isnull=True).values_list(
                "registered_model__name", flat=True
            )
        )
    )
    context = {
        "project": project,
        "open_models": open_models,
        "alert_groups": selectors.alert_groups(
            selectors.project_alerts(project=project, include_acknowledged=show_all)[:600]
        ),
        "show_all": show_all,
        "can_edit": membership.allows(Role.EDITOR),
        "is_owner": membership.allows(Role.OWNER),
    }
    return render(request, "monitoring/project_alerts.html", context)


@login_required
@require_POST
def alert_acknowledge(request, project_pk: int, alert_id: int):
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.EDITOR
    )
    alert = get_object_or_404(Alert, project=project, pk=alert_id)
    # The page shows one line per feature: its button acknowledges the line's windows.
    alert_services.alert_group_acknowledge(alert=alert, user=request.user)
    messages.success(request, _("Alerta marcada como vista."))
    return redirect("monitoring:project_alerts", project_pk=project.pk)


@login_required
@require_POST
def alerts_acknowledge_all(request, project_pk: int):
    """ "Marcar todas como vistas": the project's open alerts, or one model's (``model``)."""
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.EDITOR
    )
    count = alert_services.alerts_acknowledge_all(
        project=project, user=request.user, model_name=request.POST.get("model", "")
    )
    messages.success(
        request,
        ngettext(
            "%(count)s alerta marcada como vista.",
            "%(count)s alertas marcadas como vistas.",
            count,
        )
        % {"count": count},
    )
    return redirect("monitoring:project_alerts", project_pk=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_pk: int):
    """The project's drift thresholds and alert webhook: its owners' page."""
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.OWNER
    )
    current = services.monitoring_settings_get(project=project)
    initial = {
        "psi_alert": current.psi_alert,
        "p_value_alert": current.p_value_alert,
        "min_rows": current.min_rows,
        "webhook_url": current.webhook_url,
    }
    form = MonitoringSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            _saved, generated = services.monitoring_settings_update(
                project=project, **form.cleaned_data
            )
        except (ApplicationError, ValidationError) as error:
            form.add_error(None, getattr(error, "message", None) or _("Datos no válidos."))
        else:
            messages.success(request, _("Ajustes de monitorización guardados."))
            if generated:
                messages.warning(
                    request,
                    _("Secreto nuevo del webhook (cópialo ahora, no se volverá a mostrar): %(s)s")
                    % {"s": generated},
                )
            return redirect("monitoring:project_settings", project_pk=project.pk)
    context = {
        "project": project,
        "form": form,
        "has_secret": bool(current.webhook_secret),
        "has_webhook": bool(current.webhook_url),
        "page_title": _("Ajustes de monitorización"),
    }
    return render(request, "monitoring/project_settings.html", context)


@login_required
@require_POST
def webhook_test(request, project_pk: int):
    project, _membership = project_get_for_user(
        user=request.user, project_id=project_pk, role=Role.OWNER
    )
    try:
        services.webhook_test_queue(project=project)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Prueba enviada al webhook (firmada, con reintentos si no responde).")
        )
    return redirect("monitoring:project_settings", project_pk=project.pk)
