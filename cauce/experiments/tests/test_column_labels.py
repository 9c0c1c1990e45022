"""The experiment form lists columns with their kind in the page's language."""

from django.utils import translation

from cauce.experiments.forms import _column_label


def test_a_column_s_kind_is_said_in_the_page_s_language():
    with translation.override("es"):
        assert _column_label({"name": "price", "kind": "numeric"}) == "price (Numérica)"
        assert _column_label({"name": "island", "kind": "categorical"}) == "island (Categórica)"
    with translation.override("en"):
        assert _column_label({"name": "price", "kind": "numeric"}) == "price (Numeric)"
    # A schema without kinds (older datasets): the dtype as it is.
    assert _column_label({"name": "x", "dtype": "float64"}) == "x (float64)"
