"""Forms check the shape of the input; the rules live in the services."""

import json
import re
import uuid
from typing import Any

from django import forms
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cauce.core.exceptions import ApplicationError
from cauce.core.numbers import TypedNumberError, typed_number_text
from cauce.datasets.inference import ID_DISTINCT_TEXT, ID_ROW_NUMBER
from cauce.datasets.kinds import kind_label
from cauce.datasets.models import Dataset, DatasetVersion
from cauce.datasets.services import dataset_schema_complete
from cauce.experiments.models import MLExperiment
from cauce.experiments.pipeline.algorithms import (
    ALGORITHMS,
    CLASSIFICATION,
    FLOAT,
    INT,
    REGRESSION,
    Algorithm,
    ParameterSpec,
    algorithm_choices,
    algorithms_for,
    hyperparameter_error,
)
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
from cauce.experiments.services import (
    default_feature_columns,
    target_column_propose,
    target_task_type,
)

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


HYPERPARAMETER_PREFIX = "hp_"  # a typed hyperparameter's field: hp_<name>
NONE_TOKEN, TRUE_TOKEN, FALSE_TOKEN = "None", "True", "False"
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


class _Unset:
    """An empty hyperparameter field: scikit-learn's default, not written down."""


UNSET = _Unset()


def hyperparameter_text(value: Any) -> str:
    """A value as its field shows and posts it."""
    if value is None:
        return NONE_TOKEN
    if isinstance(value, bool):
        return TRUE_TOKEN if value else FALSE_TOKEN
    return str(value)


# Number fields are text inputs: <input type=number> parses by the browser's locale, not the
# page's, so "0,5" (what the Spanish page shows and suggests) became 5 in a browser set to
# English. Typed as text, the server reads a decimal comma or dot (typed_number_text).
NUMBER_PATTERN = r"\s*[+\-]?[0-9.,]*([eE][+\-]?[0-9]+)?\s*"
INTEGER_PATTERN = r"\s*[+\-]?[0-9]+\s*"


def number_text(name: str, text: str) -> str:
    """``typed_number_text``, its refusal as the field's error message (naming it)."""
    try:
        return typed_number_text(text)
    except TypedNumberError as error:
        if error.code == "grouping":
            message = _(
                "«%(name)s»: «%(value)s» lleva separadores de miles o más de un separador; "
                "escríbalo sin separador de miles y con una sola coma decimal (p. ej., 1500,5)."
            )
        else:
            message = _(
                "«%(name)s»: «%(value)s» es ambiguo (¿separador de miles o decimal?); "
                "escríbalo sin separador de miles (1000) o con la coma decimal (1,5)."
            )
        raise forms.ValidationError(
            message, code=error.code, params={"name": name, "value": text.strip()}
        ) from None


class DecimalTextField(forms.FloatField):
    """A decimal number typed as text: the page's decimal comma (or a dot), shown localized."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.widget.is_localized = True  # the initial 0.2 reads "0,2" on the Spanish page

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "pattern": NUMBER_PATTERN, "autocomplete": "off"})
        return attrs

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = number_text(str(self.label), str(value))
        try:
            number = float(text)
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        return number


def hyperparameter_parse(spec: ParameterSpec, text: str) -> Any:
    """The value a field's text stands for, checked as the API checks it (ValidationError)."""
    if text in spec.choices:
        return text
    if text == NONE_TOKEN and spec.allows_none:
        return None
    if text in (TRUE_TOKEN, FALSE_TOKEN) and spec.allows_bool:
        return text == TRUE_TOKEN
    value: Any = text
    if spec.numbers:
        kinds = {number.kind for number in spec.numbers}
        number = number_text(spec.name, text)  # a decimal comma, as Spanish writes it
        try:
            if _INTEGER_TEXT.fullmatch(number) and INT in kinds:
                value = int(number)
            elif FLOAT in kinds:
                value = float(number)
            elif float(number).is_integer():
                value = int(float(number))
        except (ValueError, OverflowError):
            value = text
    if not spec.accepts(value):
        raise forms.ValidationError(hyperparameter_error(spec, value))
    return value


class HyperparameterWidget(forms.Widget):
    """A number input and a select may share the name: the one filled in counts."""

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", None)
        values = getlist(name) if getlist else [data.get(name, "")]
        return [value.strip() for value in values if value and value.strip()]


class HyperparameterField(forms.Field):
    widget = HyperparameterWidget

    def __init__(self, *, spec: ParameterSpec, **kwargs):
        self.spec = spec
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", spec.name)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        values = value if isinstance(value, list) else [value] if value else []
        if not values:
            return UNSET
        if len(values) > 1:
            raise forms.ValidationError(
                _("«%(name)s»: escriba un número o elija una opción, no las dos."),
                params={"name": self.spec.name},
            )
        return hyperparameter_parse(self.spec, values[0])


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


def _hyperparameter_row(field, spec: ParameterSpec) -> dict[str, Any]:
    """The number input (with its bounds) and the options of one hyperparameter's field."""
    value = field.value()
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else ""
    text = "" if value in (None, "") else str(value)
    options = [(choice, choice) for choice in spec.choices]
    if spec.allows_bool:
        options += [(TRUE_TOKEN, _("Sí (True)")), (FALSE_TOKEN, _("No (False)"))]
    if spec.allows_none:
        options.append((NONE_TOKEN, "None"))
    chosen = text if any(text == option for option, _label in options) else ""
    number = None
    if spec.numbers:
        lows = [n.low for n in spec.numbers if n.low is not None and n.low_inclusive]
        highs = [n.high for n in spec.numbers if n.high is not None and n.high_inclusive]
        number = {
            "value": "" if chosen else text,
            "pattern": INTEGER_PATTERN if spec.number_kind == INT else NUMBER_PATTERN,
            "min": min(lows) if len(lows) == len(spec.numbers) else None,
            "max": max(highs) if len(highs) == len(spec.numbers) else None,
        }
    if isinstance(spec.default, bool):
        default = _("sí") if spec.default else _("no")
    elif isinstance(spec.default, float):
        # The page's decimal separator ("0,0001" in Spanish), as every other number on it.
        default = formats.number_format(spec.default)
    else:
        default = hyperparameter_text(spec.default)
    help_parts = [str(spec.help_text)] if spec.help_text else []
    help_parts.append(_("Acepta %(rule)s.") % {"rule": spec.describe()})
    return {
        "field": field,
        "spec": spec,
        "number": number,
        "options": options,
        "chosen": chosen,
        "default": default,
        "help": " ".join(help_parts),
        "float": spec.number_kind == FLOAT,
    }


def initial_from_query(query: Any, field_names: Any) -> dict[str, Any]:
    """The named fields' values in a GET query (a reload without JavaScript, or another
    form's button), and the typed hyperparameters: of a hyperparameter's number input and
    select, which share its name, the one filled in."""
    initial: dict[str, Any] = {}
    for name in field_names:
        if name == "feature_columns":
            if query.getlist(name):
                initial[name] = query.getlist(name)
        elif name in query:
            initial[name] = query[name]
    for name in query:
        if name.startswith(HYPERPARAMETER_PREFIX):
            filled = [value for value in query.getlist(name) if value.strip()]
            if filled:
                initial[name] = filled[0].strip()
    return initial


class ExperimentCreateForm(forms.Form):
    name = forms.CharField(label=_("Nombre"), max_length=200)
    description = forms.CharField(
        label=_("Descripción"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    dataset = forms.ModelChoiceField(
        label=_("Conjunto de datos"), queryset=Dataset.objects.none(), empty_label=None
    )
    # A version number of the chosen dataset; empty: its latest when the experiment is saved.
    dataset_version = forms.TypedChoiceField(
        label=_("Versión"), coerce=int, empty_value=None, required=False
    )
    target_column = forms.ChoiceField(
        label=_("Columna objetivo"),
        error_messages={"required": _("Elija la columna objetivo.")},
    )
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
    # Hyperparameters the form has no field for (a copy of an experiment created through the
    # API): {"algorithm": ..., "values": {...}}, kept while that algorithm stays chosen.
    other_hyperparameters = forms.CharField(required=False, widget=forms.HiddenInput)
    test_size = DecimalTextField(
        label=_("Proporción de prueba"),
        initial=0.2,
        help_text=_("Fracción de las filas reservada para evaluar (entre 0 y 1)."),
    )
    random_state = forms.IntegerField(label=_("Semilla aleatoria"), initial=42)
    tags = TagsField()

    def __init__(self, *args, project, dataset: Dataset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = Dataset.objects.filter(project=project).order_by("-created_at", "-pk")
        self.fields["dataset"].queryset = datasets
        self.chosen_dataset = dataset or self._chosen_dataset(datasets)
        self.chosen_version = self._chosen_version()
        # The columns offered are those of the version it will train on.
        self.chosen_data = self.chosen_version or self.chosen_dataset
        if self.chosen_data:
            dataset_schema_complete(dataset=self.chosen_data)
        columns = self.chosen_data.schema if self.chosen_data else []
        column_choices = [(column["name"], _column_label(column)) for column in columns]
        self.fields["target_column"].choices = [
            ("", _("— Elija la columna que se predice —")),
            *column_choices,
        ]
        # Never silently the last column (a year, an id): a proposal says why, or none is made.
        self.target_note = ""
        if self.chosen_dataset and not self.is_bound:
            self.initial.setdefault("dataset", self.chosen_dataset.pk)
            if not self.initial.get("target_column"):
                proposal = target_column_propose(schema=columns)
                if proposal:
                    self.initial["target_column"] = proposal.column
                    self.target_note = proposal.reason
                else:
                    self.target_note = _(
                        "Elija la columna que el modelo debe predecir: el tipo de tarea y los "
                        "algoritmos dependen de ella."
                    )
        target = (
            self.data.get("target_column") if self.is_bound else self.initial.get("target_column")
        )
        self.target = target or ""
        # Every column is a valid choice (a posted target among the inputs gets the service's
        # own message), but the target is never shown as an input (feature_checkboxes).
        self.fields["feature_columns"].choices = column_choices
        inputs = [column for column in columns if column["name"] != self.target]
        self.id_like_notes = {
            column["name"]: ID_LIKE_NOTES[column["id_like"]]
            for column in inputs
            if column.get("id_like") in ID_LIKE_NOTES
        }
        if self.chosen_dataset and not self.is_bound:
            self.initial["feature_columns"] = self._initial_features(inputs)
            self.initial["shown_target"] = self.target
        self.chosen_algorithm = self._chosen_algorithm()
        self._add_hyperparameter_fields()

    def _value(self, name: str) -> Any:
        return self.data.get(name) if self.is_bound else self.initial.get(name)

    def _implied_task(self) -> str | None:
        """The task the chosen task type, or else the target, implies (None: not known yet)."""
        task_type = self._value("task_type")
        if task_type in (CLASSIFICATION, REGRESSION):
            return task_type
        if not self.chosen_dataset or not self.target:
            return None
        try:
            return target_task_type(dataset=self.chosen_data, target_column=self.target)
        except ApplicationError:
            return None  # the service says why when the form is sent

    def _chosen_algorithm(self) -> Algorithm:
        """The algorithm whose fields are shown; the list offers only those for the task."""
        self.implied_task = self._implied_task()
        offered = algorithms_for(self.implied_task)
        chosen = ALGORITHMS.get(self._value("algorithm") or "")
        if chosen is not None and chosen not in offered and self.is_bound:
            # A posted algorithm that does not fit stays shown, with the service's reason.
            offered = [*offered, chosen]
        elif chosen not in offered:
            chosen = offered[0]
        self.offered_algorithms = [
            (group, [(a.name, a.label) for a in offered if a.task_type == task])
            for group, task in ((_("Clasificación"), CLASSIFICATION), (_("Regresión"), REGRESSION))
            if any(a.task_type == task for a in offered)
        ]
        return chosen

    def _add_hyperparameter_fields(self) -> None:
        given = self.initial.get("hyperparameters") or {}
        if self.initial.get("algorithm") not in (None, self.chosen_algorithm.name):
            given = {}
        other = {}
        specs = {spec.name: spec for spec in self.chosen_algorithm.tunable_parameters()}
        for name, value in given.items():
            spec = specs.get(name)
            if spec is None or not spec.covers(value):
                other[name] = value
        if other and not self.is_bound:
            self.initial["other_hyperparameters"] = json.dumps(
                {"algorithm": self.chosen_algorithm.name, "values": other}
            )
        for name, spec in specs.items():
            key = HYPERPARAMETER_PREFIX + name
            initial = self.initial.get(key)
            if initial is None and name in given and name not in other:
                initial = hyperparameter_text(given[name])
            self.fields[key] = HyperparameterField(spec=spec, initial=initial)

    def other_hyperparameters_shown(self) -> list[tuple[str, str]]:
        """(name, JSON value) of those kept from the copied experiment without a field."""
        carried = self._other_hyperparameters(self._value("other_hyperparameters"))
        return [(name, json.dumps(value, ensure_ascii=False)) for name, value in carried.items()]

    def _other_hyperparameters(self, text: Any) -> dict[str, Any]:
        try:
            carried = json.loads(text or "{}")
        except json.JSONDecodeError:
            return {}
        if not isinstance(carried, dict) or carried.get("algorithm") != self.chosen_algorithm.name:
            return {}
        values = carried.get("values")
        return values if isinstance(values, dict) else {}

    def hyperparameter_rows(self) -> list[dict[str, Any]]:
        """What the template draws for each hyperparameter field."""
        return [
            _hyperparameter_row(self[HYPERPARAMETER_PREFIX + spec.name], spec)
            for spec in self.chosen_algorithm.tunable_parameters()
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        hyperparameters = self._other_hyperparameters(cleaned.get("other_hyperparameters"))
        for name in self.fields:
            if name.startswith(HYPERPARAMETER_PREFIX) and name in cleaned:
                value = cleaned.pop(name)
                if value is not UNSET:
                    hyperparameters[name.removeprefix(HYPERPARAMETER_PREFIX)] = value
        cleaned["hyperparameters"] = hyperparameters
        return cleaned

    def add_service_error(self, error: ApplicationError) -> None:
        """A service's error on the field it names (a hyperparameter's own), or above."""
        parameter = error.extra.get("parameter")
        names = [HYPERPARAMETER_PREFIX + parameter] if parameter else []
        fields = [name for name in [*names, *error.extra] if name in self.fields]
        self.add_error(fields[0] if fields else None, str(error.message))

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

    def _chosen_version(self) -> DatasetVersion | None:
        """The version chosen of the chosen dataset (None: its latest), and the field's choices."""
        field = self.fields["dataset_version"]
        if not self.chosen_dataset:
            field.choices = [("", _("La última"))]
            return None
        versions = list(
            self.chosen_dataset.versions.only("pk", "dataset_id", "version", "row_count").order_by(
                "-version"
            )
        )
        latest = versions[0].version if versions else None
        field.choices = [
            ("", _("La última (v%(number)d)") % {"number": latest} if latest else _("La última")),
            *(
                (
                    version.version,
                    ngettext(
                        "v%(number)d · %(rows)s fila",
                        "v%(number)d · %(rows)s filas",
                        version.row_count,
                    )
                    % {"number": version.version, "rows": formats.number_format(version.row_count)},
                )
                for version in versions
            ),
        ]
        chosen = self._value("dataset_version")
        if chosen in (None, "") or not str(chosen).isdigit():
            return None
        found = next((version for version in versions if version.version == int(chosen)), None)
        if found is None:
            return None
        return self.chosen_dataset.versions.get(pk=found.pk)

    def clean_task_type(self) -> str | None:
        value = self.cleaned_data["task_type"]
        return None if value == AUTO else value

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("shown_target", None)
        data.pop("other_hyperparameters", None)
        data["feature_columns"] = data["feature_columns"] or None
        return data

    @staticmethod
    def initial_from(experiment: MLExperiment) -> dict[str, Any]:
        """Start a new experiment from another one's settings ("Duplicar")."""
        return {
            "name": _("%(name)s (copia)") % {"name": experiment.name},
            "description": experiment.description,
            "dataset": experiment.dataset_id,
            "dataset_version": (
                experiment.dataset_version.version if experiment.dataset_version_id else None
            ),
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
