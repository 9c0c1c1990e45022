"""Monitoring's REST endpoints, with the model's roles (an outsider gets 404):

- ``GET /api/models/{name}/versions/{version}/monitoring/?window=1h|24h|7d`` (members);
- ``POST /api/models/{name}/versions/{version}/monitoring/refresh/`` (editors);
- ``GET /api/projects/{id}/alerts/`` (members), ``POST .../alerts/{alert_id}/acknowledge/``
  (editors);
- ``GET``/``PATCH /api/projects/{id}/monitoring/settings/`` and ``POST .../settings/test/``
  (owners): thresholds, webhook, write-only secret, a signed test delivery.
"""

import math

from django.core.validators import URLValidator
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cauce.api.pagination import StrictLimitOffsetPagination
from cauce.core.exceptions import ApplicationError
from cauce.monitoring import alerts as alert_services
from cauce.monitoring import selectors, services
from cauce.monitoring.forms import MIN_ROWS_RANGE, P_VALUE_RANGE, PSI_RANGE
from cauce.monitoring.models import Alert
from cauce.monitoring.windows import WINDOWS, monitoring_version_refresh
from cauce.projects.models import Role
from cauce.projects.selectors import project_get_for_user
from cauce.registry.api import NAME_PARAMETER, VERSION_PARAMETER, _400, _403, _404, _503, _error
from cauce.registry.selectors import model_version_get_for_model, registered_model_get_for_user

_409 = _error("The version has no reference profile (manage.py monitoring_profiles builds it)")

WINDOW_PARAMETER = OpenApiParameter(
    "window",
    {"type": "string", "enum": list(WINDOWS), "default": "24h"},
    description="The window: the last hour, 24 hours or 7 days.",
)


class DriftSerializer(serializers.Serializer):
    feature = serializers.CharField()
    psi = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    test = serializers.CharField(help_text="ks (numeric) or chi2 (categorical)")
    flagged = serializers.BooleanField()
    rows = serializers.IntegerField()
    sample_rows = serializers.IntegerField()
    missing_rate = serializers.FloatField(allow_null=True)
    missing_rate_change = serializers.FloatField(allow_null=True)


class LatencySerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class MonitoringSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    window = serializers.CharField()
    requests = serializers.IntegerField()
    rows = serializers.IntegerField()
    errors = serializers.DictField(
        child=serializers.IntegerField(), help_text="bad_input, mlflow_down, error"
    )
    latency_ms = LatencySerializer()
    drift = DriftSerializer(many=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(
        allow_blank=True, help_text="Why there is no drift (a version without a profile)."
    )


def _monitoring_out(model, info, window: str) -> dict:
    summary = selectors.version_monitoring(model=model, version=info.version, window=window)
    profile = selectors.version_profile(model=model, info=info)
    return MonitoringSerializer(
        {
            "name": model.name,
            "version": info.version,
            "window": window,
            "requests": summary.requests,
            "rows": summary.rows,
            "errors": summary.errors,
            "latency_ms": summary.latency_ms,
            "drift": summary.drift,
            "computed_at": summary.computed_at,
            "message": "" if profile else selectors.no_profile_message(info.version),
        }
    ).data


class VersionMonitoringApi(APIView):
    @extend_schema(
        summary="A version's requests, errors, latency and drift over a window",
        parameters=[NAME_PARAMETER, VERSION_PARAMETER, WINDOW_PARAMETER],
        responses={200: MonitoringSerializer, 400: _400, 404: _404, 503: _503},
    )
    def get(self, request, name, version):
        model, _membership = registered_model_get_for_user(user=request.user, name=name)
        windows = request.query_params.getlist("window") or ["24h"]
        window = selectors.window_check(windows[0] if len(windows) == 1 else ",".join(windows))
        info = model_version_get_for_model(model=model, version=version)
        return Response(_monitoring_out(model, info, window))


class VersionMonitoringRefreshApi(APIView):
    @extend_schema(
        summary="Compute a version's windows now (editors)",
        parameters=[NAME_PARAMETER, VERSION_PARAMETER],
        request=None,
        responses={
            200: MonitoringSerializer,
            403: _403,
            404: _404,
            409: _409,
            503: _503,
        },
    )
    def post(self, request, name, version):
        model, _membership = registered_model_get_for_user(
            user=request.user, name=name, role=Role.EDITOR
        )
        info = model_version_get_for_model(model=model, version=version)
        stored = selectors.profile_required(model=model, info=info)
        monitoring_version_refresh(model=model, version=info.version, experiment=stored.experiment)
        return Response(_monitoring_out(model, info, "24h"))


class AlertSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )

    class Meta:
        model = Alert
        fields = [
            "id", "model", "version", "window", "kind", "feature", "detail", "created_at",
            "acknowledged_at", "acknowledged_by", "resolved_at",
        ]  # fmt: skip


def _include_all(values: list[str]) -> bool:
    """``all`` as the schema says: absent, or once ``true`` or ``false``; a 400 otherwise."""
    if not values:
        return False
    if len(values) > 1 or values[0] not in ("true", "false"):
        raise ApplicationError(_("«all» debe ser true o false."))
    return values[0] == "true"


class ProjectAlertsApi(generics.ListAPIView):
    serializer_class = AlertSerializer
    pagination_class = StrictLimitOffsetPagination

    @extend_schema(
        summary="A project's alerts, newest first (open ones, or all)",
        parameters=[
            OpenApiParameter("project_id", OpenApiTypes.INT, OpenApiParameter.PATH),
            OpenApiParameter(
                "all", OpenApiTypes.BOOL, description="Include the acknowledged ones."
            ),
        ],
        responses={200: AlertSerializer(many=True), 404: _404},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project, _membership = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        wanted = _include_all(self.request.query_params.getlist("all"))
        return selectors.project_alerts(project=project, include_acknowledged=wanted)


class AlertAcknowledgeApi(APIView):
    @extend_schema(
        summary="Acknowledge an alert (editors): it closes; the next drift opens a new one",
        parameters=[
            OpenApiParameter("project_id", OpenApiTypes.INT, OpenApiParameter.PATH),
            OpenApiParameter("alert_id", OpenApiTypes.INT, OpenApiParameter.PATH),
        ],
        request=None,
        responses={200: AlertSerializer, 403: _403, 404: _404},
    )
    def post(self, request, project_id, alert_id):
        project, _membership = project_get_for_user(
            user=request.user, project_id=project_id, role=Role.EDITOR
        )
        alert = get_object_or_404(Alert, project=project, pk=alert_id)
        alert_services.alert_acknowledge(alert=alert, user=request.user)
        return Response(AlertSerializer(alert).data)


class AlertsAcknowledgeAllIn(serializers.Serializer):
    model = serializers.CharField(
        required=False, allow_blank=True, max_length=255,
        help_text="Only this model's alerts (its name); all the project's when absent.",
    )  # fmt: skip


class AlertsAcknowledgeAllOut(serializers.Serializer):
    acknowledged = serializers.IntegerField()


class AlertsAcknowledgeAllApi(APIView):
    @extend_schema(
        operation_id="projects_alerts_acknowledge_all",
        summary="Acknowledge all of a project's open alerts, or one model's (editors)",
        parameters=[OpenApiParameter("project_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        request=AlertsAcknowledgeAllIn,
        responses={200: AlertsAcknowledgeAllOut, 400: _400, 403: _403, 404: _404},
    )
    def post(self, request, project_id):
        project, _membership = project_get_for_user(
            user=request.user, project_id=project_id, role=Role.EDITOR
        )
        body = AlertsAcknowledgeAllIn(data=request.data)
        body.is_valid(raise_exception=True)
        count = alert_services.alerts_acknowledge_all(
            project=project, user=request.user, model_name=body.validated_data.get("model", "")
        )
        return Response({"acknowledged": count})


class _StrictBoolean(serializers.BooleanField):
    """JSON's true or false only (as the schema says), not "yes" or 1."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class _StrictFloat(serializers.FloatField):
    """A JSON number only (not a string that reads as one), and finite."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class _StrictInteger(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class MonitoringSettingsSerializer(serializers.Serializer):
    psi_alert = _StrictFloat(
        min_value=PSI_RANGE[0],
        max_value=PSI_RANGE[1],
        help_text="A feature is flagged at this PSI.",
    )
    p_value_alert = _StrictFloat(
        min_value=P_VALUE_RANGE[0],
        max_value=P_VALUE_RANGE[1],
        help_text="...or when its two-sample test's p-value is below this.",
    )
    min_rows = _StrictInteger(min_value=MIN_ROWS_RANGE[0], max_value=MIN_ROWS_RANGE[1])
    webhook_url = serializers.URLField(
        allow_blank=True, max_length=200, help_text="http or https; empty: no webhook."
    )
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        min_length=16,
        max_length=255,
        help_text="Write-only, never returned; omitted keeps the stored one.",
    )
    secret_generate = _StrictBoolean(
        write_only=True, required=False, default=False, help_text="Replace the secret by a new one."
    )
    has_secret = serializers.BooleanField(read_only=True)
    generated_secret = serializers.CharField(
        read_only=True, allow_null=True, help_text="The secret generated now, shown only once."
    )

    def validate_webhook_url(self, value: str) -> str:
        if value:
            URLValidator(schemes=["http", "https"])(value)
        return value

    def validate(self, data):
        if data.get("webhook_secret") and data.get("secret_generate"):
            raise serializers.ValidationError(
                _("Escribe un secreto o pide uno nuevo, no las dos cosas.")
            )
        return data


def _settings_out(own, generated: str = "") -> dict:
    return MonitoringSettingsSerializer(
        {
            "psi_alert": own.psi_alert,
            "p_value_alert": own.p_value_alert,
            "min_rows": own.min_rows,
            "webhook_url": own.webhook_url,
            "has_secret": bool(own.webhook_secret),
            "generated_secret": generated or None,
        }
    ).data


class MonitoringSettingsApi(APIView):
    """A project's drift thresholds and alert webhook (owners)."""

    @extend_schema(
        summary="A project's monitoring settings (owners)",
        responses={200: MonitoringSettingsSerializer, 403: _403, 404: _404},
    )
    def get(self, request, project_id):
        project, _membership = project_get_for_user(
            user=request.user, project_id=project_id, role=Role.OWNER
        )
        return Response(_settings_out(services.monitoring_settings_get(project=project)))

    @extend_schema(
        summary="Change a project's monitoring settings (owners; fields left out are kept)",
        request=MonitoringSettingsSerializer,
        responses={200: MonitoringSettingsSerializer, 400: _400, 403: _403, 404: _404},
    )
    def patch(self, request, project_id):
        project, _membership = project_get_for_user(
            user=request.user, project_id=project_id, role=Role.OWNER
        )
        data = MonitoringSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        current = services.monitoring_settings_get(project=project)
        values = {
            "psi_alert": current.psi_alert,
            "p_value_alert": current.p_value_alert,
            "min_rows": current.min_rows,
            "webhook_url": current.webhook_url,
            **data.validated_data,
        }
        own, generated = services.monitoring_settings_update(project=project, **values)
        return Response(_settings_out(own, generated))


class WebhookTestApi(APIView):
    @extend_schema(
        summary="Send a signed test delivery to the project's webhook (owners)",
        request=None,
        responses={202: None, 403: _403, 404: _404, 409: _error("The project has no webhook")},
    )
    def post(self, request, project_id):
        project, _membership = project_get_for_user(
            user=request.user, project_id=project_id, role=Role.OWNER
        )
        services.webhook_test_queue(project=project)
        return Response(status=202)
