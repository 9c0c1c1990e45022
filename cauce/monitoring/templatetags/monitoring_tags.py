"""``{% model_open_alerts model %}``: a model's open alerts, on its registry page."""

from django import template

from cauce.monitoring.models import Alert

register = template.Library()


@register.inclusion_tag("monitoring/_alerts.html")
def model_open_alerts(model):
    alerts = Alert.objects.filter(registered_model=model, acknowledged_at__isnull=True)
    return {
        "alerts": alerts.select_related("registered_model")[:20],
        "alert_project": model.project,
    }
