"""The importance plot is drawn to be read at the size the page shows it."""

import pandas as pd
from PIL import Image

from cauce.experiments.pipeline import reports


def test_long_feature_names_are_cut_in_the_middle_and_prefixes_dropped():
    names = [f"num__temperatura_media_del_sensor_principal_en_grados_{index}" for index in (3, 4)]
    labels = [reports._label(name) for name in names]
    assert [len(label) for label in labels] == [reports.MAX_LABEL_CHARS] * 2
    assert labels[0] == "temperatura_media_del_sens…l_en_grados_3"
    assert labels[1] != labels[0]  # the distinguishing end is kept
    assert reports._label("cat__city_Madrid") == "city_Madrid"
    assert reports._label("age") == "age"


def test_the_importance_plot_shows_the_top_20_at_page_width(tmp_path):
    importances = pd.Series(
        [1.0 / (index + 1) for index in range(35)],
        index=[f"num__column_with_a_rather_long_name_{index:02d}" for index in range(35)],
    )
    path = tmp_path / "importance.png"
    reports.feature_importance_plot(path, importances, method="permutation")
    width, height = Image.open(path).size
    # Shown at its own size on the page (at most 1152 px wide there): labels keep 12 pt.
    assert width == 1000
    assert height == int(100 * (0.42 * reports.MAX_FEATURES_PLOTTED + 1.6))


def test_plot_numbers_read_with_a_decimal_comma_and_few_digits():
    assert reports.tick_label(0.8769642857142856) == "0,877"
    assert reports.tick_label(-2.5) == "\u22122,5"
    assert reports.tick_label(1500.0) == "1500"
    assert reports.tick_label(0.00001) == "0,00001"


def test_a_plot_s_numeric_axes_use_the_tick_label_and_named_ticks_stay(tmp_path):
    figure = reports._figure(4, 3)
    axes = figure.subplots()
    axes.barh([0, 1], [0.25, 0.75])
    axes.set_yticks([0, 1], ["petal_width", "sepal_length"])
    reports._save(figure, tmp_path / "plot.png")
    assert axes.xaxis.get_major_formatter()(0.25) == "0,25"
    assert [label.get_text() for label in axes.get_yticklabels()] == [
        "petal_width",
        "sepal_length",
    ]
