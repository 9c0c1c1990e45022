"""``{% model_open_alerts model %}``: a summary of a model's open alerts, on its registry page;
``|p_value_text``: a p-value as the drift table shows it."""

from django import template
from django.utils.formats import number_format

from cauce.monitoring.models import Alert

register = template.Library()


@register.inclusion_tag("monitoring/_alerts_summary.html")
def model_open_alerts(model):
    """A compact summary (features with drift, hours with errors), not the list: one
    drifted batch opens an alert per feature and window."""
    alerts = Alert.objects.filter(registered_model=model, acknowledged_at__isnull=True)
    drifted = alerts.filter(kind=Alert.Kind.DRIFT).values("feature").distinct().count()
    return {
        "open_count": alerts.count(),
        "drifted_features": drifted,
        "error_alerts": alerts.exclude(kind=Alert.Kind.DRIFT).count(),
        "alert_project": model.project,
    }


# Below this a p-value reads "< 0,0001" (localized), never "0,0000".
P_VALUE_FLOOR = 0.0001


@register.filter
def p_value_text(value) -> str:
    if value is None:
        return "—"
    if value < P_VALUE_FLOOR:
        return f"< {number_format(P_VALUE_FLOOR, decimal_pos=4)}"
    return number_format(value, decimal_pos=4)
