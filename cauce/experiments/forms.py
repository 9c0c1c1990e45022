"""Forms check the shape of the input; the rules live in the services."""

import json
import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cauce.datasets.inference import ID_DISTINCT_TEXT, ID_ROW_NUMBER
from cauce.datasets.kinds import kind_label
from cauce.datasets.models import Dataset
from cauce.datasets.services import dataset_schema_complete
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.algorithms import CLASSIFICATION, REGRESSION, algorithm_choices
from cauce.experiments.selectors import (
    MAX_FILTER_TAGS,
    SYNC_PENDING,
    SYNC_SYNCED,
    TAGS_ALL,
    TAGS_ANY,
    ExperimentFilters,
    FilterChoices,
    filter_tags_parse,
)
from cauce.experiments.services import default_feature_columns

AUTO = "auto"


class TagsField(forms.CharField):
    """Comma-separated tags; the services trim, dedupe and check them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Etiquetas"))
        kwargs.setdefault("help_text", _("Separadas por comas, p. ej.: base, iris, v2."))
        # tag_input.js offers the project's tags (the page's <datalist id="tag-options">).
        kwargs.setdefault(
            "widget",
            forms.TextInput(
                attrs={"list": "tag-options", "autocomplete": "off", "data-tag-input": ""}
            ),
        )
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
    return f"{column['name']} ({kind_label(column.get('kind', column.get('dtype', '')))})"


# Why a column is not proposed as an input (see cauce.datasets.inference.ID_*).
ID_LIKE_NOTES = {
    ID_DISTINCT_TEXT: _(
        "No se propone: casi todos sus valores son distintos, parece un identificador o un "
        "nombre (el modelo no aprendería nada útil de él). Puede marcarla igualmente."
    ),
    ID_ROW_NUMBER: _(
        "No se propone: sus valores son únicos y van de uno en uno, parece un número de fila. "
        "Puede marcarla igualmente."
    ),
}


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
        help_text=_(
            "Si no marca ninguna, se usan las propuestas: todas salvo la objetivo y las que "
            "parecen identificadores."
        ),
    )
    # The target the column list was drawn for: when a reload brings another target, the
    # old one becomes an input column again (it was left out only for being the target).
    shown_target = forms.CharField(required=False, widget=forms.HiddenInput)
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
        if self.chosen_dataset:
            dataset_schema_complete(dataset=self.chosen_dataset)
        columns = self.chosen_dataset.schema if self.chosen_dataset else []
        self.fields["target_column"].choices = [
            (column["name"], _column_label(column)) for column in columns
        ]
        if self.chosen_dataset and not self.is_bound:
            self.initial.setdefault("dataset", self.chosen_dataset.pk)
            if columns:
                # The label is most often the last column of a table.
                self.initial.setdefault("target_column", columns[-1]["name"])
        target = (
            self.data.get("target_column") if self.is_bound else self.initial.get("target_column")
        )
        self.target = target or ""
        # Every column is a valid choice (a posted target among the inputs gets the service's
        # own message), but the target is never shown as an input (feature_checkboxes).
        self.fields["feature_columns"].choices = self.fields["target_column"].choices
        inputs = [column for column in columns if column["name"] != self.target]
        self.id_like_notes = {
            column["name"]: ID_LIKE_NOTES[column["id_like"]]
            for column in inputs
            if column.get("id_like") in ID_LIKE_NOTES
        }
        if self.chosen_dataset and not self.is_bound:
            self.initial["feature_columns"] = self._initial_features(inputs)
            self.initial["shown_target"] = self.target

    def _initial_features(self, inputs: list[dict[str, Any]]) -> list[str]:
        """The proposed inputs, or the given ones (a copy, a reload) without the target."""
        names = [column["name"] for column in inputs]
        given = self.initial.get("feature_columns")
        if not given:
            return default_feature_columns(schema=inputs, target_column=self.target)
        chosen = [name for name in given if name in names]
        previous = self.initial.get("shown_target")
        if previous in names and previous not in self.id_like_notes and previous not in chosen:
            chosen.append(previous)
        return [name for name in names if name in chosen]

    def feature_checkboxes(self) -> list[tuple[Any, str]]:
        """(checkbox, note) per input column; the note says why it is not proposed."""
        return [
            (checkbox, self.id_like_notes.get(checkbox.data["value"], ""))
            for checkbox in self["feature_columns"]
            if checkbox.data["value"] != self.target
        ]

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
        data.pop("shown_target", None)
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


PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
DEFAULT_PER_PAGE = 50


class TagFilterWidget(forms.MultipleHiddenInput):
    """Reads every ``tags`` value of the query (``tags=a,b`` and ``tags=a&tags=b`` alike)."""

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", None)
        return getlist(name) if getlist else data.get(name)


class TagFilterField(forms.Field):
    widget = TagFilterWidget

    def to_python(self, value: Any) -> tuple[str, ...]:
        if not value:
            return ()
        try:
            return filter_tags_parse([value] if isinstance(value, str) else value)
        except ValueError:
            raise forms.ValidationError(
                _("Filtre por %(max)d etiquetas como mucho."), params={"max": MAX_FILTER_TAGS}
            ) from None


class ExperimentFilterForm(forms.Form):
    """The list's filters, read from the query string so that a filtered list can be bookmarked.

    A bad value (an unknown status, a dataset of another project...) is reported on its
    control and that filter alone is left out.
    """

    q = forms.CharField(label=_("Buscar"), required=False, max_length=200)
    tags = TagFilterField(label=_("Etiquetas"), required=False)
    tags_mode = forms.ChoiceField(
        label=_("Coincidencia de etiquetas"),
        required=False,
        choices=[(TAGS_ALL, _("Todas")), (TAGS_ANY, _("Cualquiera"))],
        widget=forms.RadioSelect,
    )
    status = forms.ChoiceField(
        label=_("Estado"),
        required=False,
        choices=[("", _("Todos")), *MLExperiment.Status.choices],
    )
    algorithm = forms.ChoiceField(label=_("Algoritmo"), required=False)
    dataset = forms.TypedChoiceField(
        label=_("Conjunto de datos"), required=False, coerce=int, empty_value=None
    )
    project = forms.TypedChoiceField(
        label=_("Proyecto"), required=False, coerce=int, empty_value=None
    )
    sync = forms.ChoiceField(
        label=_("Sincronización"),
        required=False,
        choices=[
            ("", _("Todas")),
            (SYNC_PENDING, _("Pendiente")),
            (SYNC_SYNCED, _("Al día en MLflow")),
        ],
    )
    per_page = forms.TypedChoiceField(
        label=_("Por página"),
        required=False,
        coerce=int,
        empty_value=DEFAULT_PER_PAGE,
        choices=[(str(size), str(size)) for size in PER_PAGE_CHOICES],
    )

    def __init__(
        self,
        *args,
        choices: FilterChoices,
        projects: list[tuple[int, str]] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if self.is_bound and not self.data.get("tags_mode"):
            self.data = self.data.copy()
            self.data["tags_mode"] = TAGS_ALL
        # Every algorithm Cauce knows: a bookmarked filter stays valid when no experiment of
        # the list uses that algorithm yet.
        self.fields["algorithm"].choices = [
            ("", _("Todos")),
            (_("Clasificación"), algorithm_choices(CLASSIFICATION)),
            (_("Regresión"), algorithm_choices(REGRESSION)),
        ]
        show_project = projects is not None

        def dataset_label(dataset) -> str:
            return f"{dataset.project.name} / {dataset.name}" if show_project else dataset.name

        self.fields["dataset"].choices = [
            ("", _("Todos")),
            *((dataset.pk, dataset_label(dataset)) for dataset in choices.datasets),
        ]
        if show_project:
            self.fields["project"].choices = [("", _("Todos")), *projects]
        else:
            del self.fields["project"]
        self.tag_names = choices.tag_names

    def to_filters(self) -> ExperimentFilters:
        """The valid part of the query as filters (an invalid control is left out)."""
        self.is_valid()
        data = self.cleaned_data
        return ExperimentFilters(
            tags=data.get("tags") or (),
            tags_mode=data.get("tags_mode") or TAGS_ALL,
            status=data.get("status") or "",
            algorithm=data.get("algorithm") or "",
            dataset_id=data.get("dataset"),
            project_id=data.get("project"),
            q=(data.get("q") or "").strip(),
            sync_pending={SYNC_PENDING: True, SYNC_SYNCED: False}.get(data.get("sync") or ""),
        )

    @property
    def per_page_value(self) -> int:
        self.is_valid()
        return self.cleaned_data.get("per_page") or DEFAULT_PER_PAGE


BULK_ADD = "add"
BULK_REMOVE = "remove"


class BulkTagForm(forms.Form):
    """The list's bulk action: one tag added to or removed from the checked experiments."""

    experiments = forms.TypedMultipleChoiceField(coerce=str)
    tag = forms.CharField(label=_("Etiqueta"), max_length=200, required=False)
    action = forms.ChoiceField(
        choices=[(BULK_ADD, _("Añadir etiqueta")), (BULK_REMOVE, _("Quitar etiqueta"))]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["experiments"]
        field.error_messages["required"] = _("Marque al menos un experimento.")
        # The ids are checked against the user's projects by the service, not listed here.
        field.valid_value = lambda value: True

    def clean_experiments(self) -> list[uuid.UUID]:
        ids = []
        for value in self.cleaned_data["experiments"]:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                message = _("La selección de experimentos no es válida.")
                raise forms.ValidationError(message) from None
        return ids
