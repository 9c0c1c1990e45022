"""The experiment page's registry section, without the experiments app knowing the registry."""

from django import template

from cauce.experiments.models import MLExperiment
from cauce.registry.forms import RegisterForm
from cauce.registry.services import registered_model_default_name

register = template.Library()


@register.inclusion_tag("registry/_experiment_registry.html", takes_context=True)
def experiment_registry_section(context, experiment: MLExperiment):
    """The register form (editors, FINISHED experiments) and the run's versions, loaded by
    htmx after the page so that the page never waits for MLflow."""
    return {
        "experiment": experiment,
        "can_register": bool(context.get("can_edit"))
        and experiment.status == MLExperiment.Status.FINISHED,
        "register_form": RegisterForm(
            initial={"name": registered_model_default_name(experiment=experiment)}
        ),
        "versions": None,
        "mlflow_available": True,
        "csrf_token": context.get("csrf_token"),
    }
