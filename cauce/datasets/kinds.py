"""A column's kind (from schema inference) in the page's language, wherever columns are listed."""

from django.utils.translation import gettext_lazy

KIND_LABELS = {
    "numeric": gettext_lazy("Numérica"),
    "categorical": gettext_lazy("Categórica"),
    "boolean": gettext_lazy("Booleana"),
    "datetime": gettext_lazy("Fecha/hora"),
    "text": gettext_lazy("Texto"),
}


def kind_label(kind: str) -> str:
    """The label of a kind; an unknown one (a raw dtype) as it is."""
    return str(KIND_LABELS.get(kind, kind))
