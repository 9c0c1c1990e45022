"""The metric chart: a [0, 1] axis for scores, labels in the page's number format."""

import re

from django.utils import translation

from cauce.registry.charts import metric_chart_svg


def _ticks(svg: str) -> list[str]:
    return re.findall(r'<text class="tick" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)<', svg)


def test_a_score_is_drawn_on_a_zero_to_one_axis_even_with_one_version():
    with translation.override("es"):
        svg = metric_chart_svg(metric="f1_macro", points=[(1, 0.8769642857142856)], title="t")
    assert _ticks(svg) == ["0", "0,5", "1"]
    assert "f1_macro = 0,877</title>" in svg


def test_an_unbounded_metric_keeps_its_own_range_in_the_language_s_format():
    points = [(1, 0.1234567), (2, 0.3234567)]
    with translation.override("en"):
        svg = metric_chart_svg(metric="rmse", points=points, title="t")
    assert _ticks(svg) == ["0.1235", "0.2235", "0.3235"]
    with translation.override("es"):
        svg = metric_chart_svg(metric="rmse", points=points, title="t")
    assert _ticks(svg) == ["0,1235", "0,2235", "0,3235"]
