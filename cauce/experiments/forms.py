"""Forms check the shape of the input; the rules live in the services."""

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cauce.datasets.models import Dataset
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.algorithms import CLASSIFICATION, REGRESSION, algorithm_choices

AUTO = "auto"


class TagsField(forms.CharField):
    """Comma-separated tags; the services trim, dedupe and check them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Etiquetas"))
        kwargs.setdefault("help_text", _("Separadas por comas, p. ej.: base, iris, v2."))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [tag for tag in (part.strip() for part in text.split(",")) if tag]


class HyperparametersField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, indent=2, ensure_ascii=False) if value else ""
        return value

    def to_python(self, value: Any) -> dict[str, Any]:
        text = super().to_python(value).strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                _("JSON no válido (línea %(line)d, columna %(column)d): %(reason)s."),
                params={"line": error.lineno, "column": error.colno, "reason": error.msg},
            ) from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError(
                _('Los hiperparámetros deben ser un objeto JSON, p. ej. {"n_estimators": 100}.')
            )
        return parsed


def _column_label(column: dict[str, Any]) -> str:
    return f"{column['name']} ({column.get('kind', column.get('dtype', ''))})"


class ExperimentCreateForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=200)
    description = forms.CharField(
        label=_("Descripción"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    dataset = forms.ModelChoiceField(
        label=_("Conjunto de datos"), queryset=Dataset.objects.none(), empty_label=None
    )
    target_column = forms.ChoiceField(label=_("Columna objetivo"))
    feature_columns = forms.MultipleChoiceField(
        label=_("Columnas de entrada"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Si no marca ninguna, se usan todas las columnas salvo la objetivo."),
    )
    task_type = forms.ChoiceField(
        label=_("Tipo de tarea"),
        choices=[
            (AUTO, _("Automático (según la columna objetivo)")),
            *MLExperiment.TaskType.choices,
        ],
        initial=AUTO,
    )
    algorithm = forms.ChoiceField(
        label=_("Algoritmo"),
        choices=[
            (_("Clasificación"), algorithm_choices(CLASSIFICATION)),
            (_("Regresión"), algorithm_choices(REGRESSION)),
        ],
    )
    hyperparameters = HyperparametersField(
        label=_("Hiperparámetros (JSON)"),
        help_text=_('Vacío: los valores por defecto de scikit-learn. P. ej. {"max_depth": 5}.'),
    )
    test_size = forms.FloatField(
        label=_("Proporción de prueba"),
        initial=0.2,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0.05", "max": "0.95"}),
        help_text=_("Fracción de las filas reservada para evaluar (entre 0 y 1)."),
    )
    random_state = forms.IntegerField(label=_("Semilla aleatoria"), initial=42)
    tags = TagsField()

    def __init__(self, *args, project, dataset: Dataset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = Dataset.objects.filter(project=project).order_by("-created_at", "-pk")
        self.fields["dataset"].queryset = datasets
        self.chosen_dataset = dataset or self._chosen_dataset(datasets)
        columns = self.chosen_dataset.schema if self.chosen_dataset else []
        choices = [(column["name"], _column_label(column)) for column in columns]
        self.fields["target_column"].choices = choices
        self.fields["feature_columns"].choices = choices
        if self.chosen_dataset and not self.is_bound:
            self.initial.setdefault("dataset", self.chosen_dataset.pk)
            if columns:
                # The label is most often the last column of a table.
                self.initial.setdefault("target_column", columns[-1]["name"])

    def _chosen_dataset(self, datasets) -> Dataset | None:
        """The dataset whose columns the form offers: the posted one, the initial one, or newest."""
        chosen = self.data.get("dataset") if self.is_bound else self.initial.get("dataset")
        if chosen not in (None, ""):
            found = datasets.filter(pk=chosen).first() if str(chosen).isdigit() else None
            if found is not None:
                return found
        return datasets.first()

    def clean_task_type(self) -> str | None:
        value = self.cleaned_data["task_type"]
        return None if value == AUTO else value

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["feature_columns"] = data["feature_columns"] or None
        return data

    @staticmethod
    def initial_from(experiment: MLExperiment) -> dict[str, Any]:
        """Start a new experiment from another one's settings ("Duplicar")."""
        return {
            "name": _("%(name)s (copia)") % {"name": experiment.name},
            "description": experiment.description,
            "dataset": experiment.dataset_id,
            "target_column": experiment.target_column,
            "feature_columns": list(experiment.feature_columns),
            "task_type": experiment.task_type,
            "algorithm": experiment.algorithm,
            "hyperparameters": experiment.hyperparameters,
            "test_size": experiment.test_size,
            "random_state": experiment.random_state,
            "tags": [tag.name for tag in experiment.tags.all()],
        }


class ExperimentEditForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=200)
    description = forms.CharField(
        label=_("Descripción"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    tags = TagsField(help_text=_("Separadas por comas; cada una de hasta 100 caracteres."))


class ExperimentFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Estado"),
        required=False,
        choices=[("", _("Todos")), *MLExperiment.Status.choices],
    )
    tag = forms.ChoiceField(label=_("Etiqueta"), required=False)

    def __init__(self, *args, tag_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [("", _("Todas")), *((name, name) for name in tag_names)]
