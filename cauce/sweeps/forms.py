"""The sweep form: the experiment form's data and model parts, each hyperparameter with a
search range (numbers: low, high, log scale) or a set of choices, and the sweep's settings.
Shapes only: the services check the values (``cauce.sweeps.space``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cauce.experiments.forms import (
    FALSE_TOKEN,
    HYPERPARAMETER_PREFIX,
    NONE_TOKEN,
    NUMBER_PATTERN,
    TRUE_TOKEN,
    ExperimentCreateForm,
    number_text,
)
from cauce.experiments.pipeline.algorithms import ParameterSpec
from cauce.sweeps.models import Sweep
from cauce.sweeps.space import CATEGORICAL_TYPE, METRICS, range_type

SEARCH, LOW, HIGH, LOG, CHOICES = "search_", "low_", "high_", "log_", "choices_"


def _options(spec: ParameterSpec) -> list[tuple[str, str]]:
    options = [(choice, choice) for choice in spec.choices]
    if spec.allows_bool:
        options += [(TRUE_TOKEN, "True"), (FALSE_TOKEN, "False")]
    if spec.allows_none:
        options.append((NONE_TOKEN, "None"))
    return options


def _choice_value(text: str) -> Any:
    return {TRUE_TOKEN: True, FALSE_TOKEN: False, NONE_TOKEN: None}.get(text, text)


def _number(name: str, text: str) -> float | int | str:
    """A bound as typed (a decimal comma or dot); refused text is the field's error."""
    number = number_text(name, text)
    try:
        value = float(number)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in number and "e" not in number else value


class SweepCreateForm(ExperimentCreateForm):
    metric = forms.ChoiceField(label=_("Métrica a optimizar"), required=False)
    direction = forms.ChoiceField(
        label=_("Dirección"),
        required=False,
        choices=[("", _("La de la métrica")), *Sweep.Direction.choices],
    )
    n_trials = forms.IntegerField(label=_("Número de pruebas"), initial=20, min_value=1)
    sampler = forms.ChoiceField(
        label=_("Muestreador"), choices=Sweep.Sampler.choices, initial=Sweep.Sampler.TPE
    )
    cv_folds = forms.IntegerField(
        label=_("Validación cruzada (particiones)"),
        initial=0,
        min_value=0,
        help_text=_(
            "0: una partición de entrenamiento y prueba; de 3 a 10: k particiones, con poda."
        ),
    )
    auto_promote = forms.BooleanField(
        label=_("Al terminar, promover el mejor y registrarlo con el alias «candidate»"),
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["description"]
        task = self.implied_task or self.chosen_algorithm.task_type
        self.fields["metric"].choices = [("", _("La principal de la tarea"))] + [
            (name, name) for name in METRICS[task]
        ]
        for spec in self.chosen_algorithm.tunable_parameters():
            self.fields[SEARCH + spec.name] = forms.BooleanField(required=False)
            if spec.numbers:
                self.fields[LOW + spec.name] = forms.CharField(required=False)
                self.fields[HIGH + spec.name] = forms.CharField(required=False)
                self.fields[LOG + spec.name] = forms.BooleanField(required=False)
            options = _options(spec)
            if options:
                self.fields[CHOICES + spec.name] = forms.MultipleChoiceField(
                    required=False, choices=options, widget=forms.CheckboxSelectMultiple
                )

    def search_rows(self) -> list[dict[str, Any]]:
        """What the template draws for each hyperparameter's search."""
        rows = []
        for spec in self.chosen_algorithm.tunable_parameters():
            name = spec.name
            rows.append(
                {
                    "spec": spec,
                    "search": self[SEARCH + name],
                    "low": self[LOW + name] if spec.numbers else None,
                    "high": self[HIGH + name] if spec.numbers else None,
                    "log": self[LOG + name] if spec.numbers else None,
                    "choices": self[CHOICES + name] if (CHOICES + name) in self.fields else None,
                    "pattern": NUMBER_PATTERN,
                }
            )
        return rows

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        space: dict[str, dict[str, Any]] = {}
        for spec in self.chosen_algorithm.tunable_parameters():
            name = spec.name
            if not cleaned.pop(SEARCH + name, False):
                for prefix in (LOW, HIGH, LOG, CHOICES):
                    cleaned.pop(prefix + name, None)
                continue
            low = (cleaned.pop(LOW + name, "") or "").strip()
            high = (cleaned.pop(HIGH + name, "") or "").strip()
            log = cleaned.pop(LOG + name, False)
            choices = cleaned.pop(CHOICES + name, None) or []
            if low or high:
                try:
                    low_value, high_value = _number(name, low), _number(name, high)
                except forms.ValidationError as error:
                    self.add_error(SEARCH + name, error)
                    continue
                kind = range_type(spec, low_value, high_value)
                space[name] = {"type": kind, "low": low_value, "high": high_value, "log": log}
            else:
                space[name] = {
                    "type": CATEGORICAL_TYPE,
                    "choices": [_choice_value(choice) for choice in choices],
                }
        if not space and not any(key.startswith(SEARCH) for key in self.errors):
            # The service's words name the API's field (search_space).
            self.add_error(
                None,
                _("Marque al menos un hiperparámetro que buscar, en «Qué buscar», con su "
                  "mínimo y máximo o sus opciones."),
            )  # fmt: skip
        # A searched parameter's fixed value (typed above) gives way to its search.
        fixed = cleaned.pop("hyperparameters", {})
        cleaned["fixed_hyperparameters"] = {k: v for k, v in fixed.items() if k not in space}
        cleaned["search_space"] = space
        return cleaned

    def service_arguments(self) -> dict[str, Any]:
        data = super().service_arguments()
        data["seed"] = data.pop("random_state")
        data.pop("description", None)
        return data

    def add_service_error(self, error) -> None:
        """On the parameter's search row when the service names one, else as the parent."""
        parameter = error.extra.get("parameter")
        if parameter and (SEARCH + parameter) in self.fields:
            self.add_error(SEARCH + parameter, str(error.message))
            return
        for name in error.extra:
            if name in self.fields and name not in ("search_space", "parameter"):
                self.add_error(name, str(error.message))
                return
        if parameter and (HYPERPARAMETER_PREFIX + parameter) in self.fields:
            self.add_error(HYPERPARAMETER_PREFIX + parameter, str(error.message))
            return
        self.add_error(None, str(error.message))
