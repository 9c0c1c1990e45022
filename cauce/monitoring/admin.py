from django.contrib import admin

from cauce.monitoring.models import Alert, MonitoringSettings


@admin.register(MonitoringSettings)
class MonitoringSettingsAdmin(admin.ModelAdmin):
    """A project's drift thresholds and alert webhook (URL and HMAC secret)."""

    list_display = ("project", "psi_alert", "p_value_alert", "min_rows", "webhook_url")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("project", "registered_model", "version", "window", "kind", "feature",
                    "created_at", "acknowledged_at")  # fmt: skip
    list_filter = ("kind", "window")
