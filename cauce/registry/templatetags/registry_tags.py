"""The experiment page's registry section, without the experiments app knowing the registry;
the registry's words for MLflow's names (version statuses, result columns)."""

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core import numbers
from cauce.experiments.models import MLExperiment
from cauce.registry.forms import RegisterForm
from cauce.registry.predict.frames import PREDICTION_COLUMN, PROBABILITY_PREFIX, note_text
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


PROBABILITY_DECIMALS = 3

# MLflow's version statuses, said in the page's language (the API keeps MLflow's names).
VERSION_STATUS_LABELS = {
    "READY": gettext_lazy("Lista"),
    "PENDING_REGISTRATION": gettext_lazy("Registrándose"),
    "FAILED_REGISTRATION": gettext_lazy("Registro fallido"),
}


@register.filter
def version_status(status: str) -> str:
    return VERSION_STATUS_LABELS.get(status, status)


@register.filter
def prediction_note(note) -> str:
    """A stored note (a code and its params) in the reader's language."""
    return note_text(note)


@register.filter
def prediction_column(name: str) -> str:
    """A result column's header as a person reads it; the CSV keeps the machine's names."""
    if name == PREDICTION_COLUMN:
        return _("Predicción")
    if name.startswith(PROBABILITY_PREFIX):
        return _("Probabilidad «%(label)s»") % {"label": name[len(PROBABILITY_PREFIX) :]}
    return name


@register.filter
def result_cells(row: list, columns: list[str]) -> list[tuple[object, str]]:
    """(value, as shown) per cell, in the page's number format (the full value on hover):
    probabilities with a fixed 3 decimals, the prediction rounded, the inputs' decimals
    rounded and their codes (00123) as they came."""
    return [(value, _shown(column, value)) for column, value in zip(columns, row, strict=False)]


@register.filter
def result_rows(result) -> list[list[tuple[object, str, bool]]]:
    """A result page's rows as (value, as shown, numeric) per cell: ``result_cells``, with
    each column aligned as a whole by its kind (``numbers.numeric_columns``)."""
    kinds = numbers.numeric_columns(result.rows, len(result.columns))
    return [
        [
            (value, shown, kinds[index])
            for index, (value, shown) in enumerate(result_cells(row, result.columns))
        ]
        for row in result.rows
    ]


def _shown(column: str, value):
    if column.startswith(PROBABILITY_PREFIX):
        return numbers.fixed(value, PROBABILITY_DECIMALS)
    if column == PREDICTION_COLUMN:
        return numbers.significant(value)
    return numbers.decimal_text(value)


@register.filter
def user_tags(tags: dict) -> list[tuple[str, str]]:
    """A version's tags without Cauce's own bookkeeping (``cauce.experiment_id``...), which the
    versions table would otherwise show as if a person had written them."""
    return [(key, value) for key, value in tags.items() if not key.startswith("cauce.")]
