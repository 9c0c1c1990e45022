"""The "Comparar" page, its CSV and the lists' button, against the session's real MLflow."""

import csv
import io
import itertools
import math
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from cauce.experiments.compare_charts import number_short
from cauce.experiments.models import MLExperiment
from cauce.experiments.tests.web_support import create_experiment

pytestmark = pytest.mark.django_db

PAGE = reverse("experiments:ml_experiment_compare")
CSV = reverse("experiments:ml_experiment_compare_csv")


def _ids(experiments) -> str:
    return ",".join(str(item.pk) for item in experiments)


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-row="([^"]+)"', html)


def _columns(html: str) -> list[str]:
    head = html.split("</thead>")[0]
    return re.findall(r'<th data-col="([^"]+)"', head)


def test_only_the_rows_that_differ_by_default(three, viewer_client):
    response = viewer_client.get(PAGE, {"ids": _ids(three)})

    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    assert "p0" in rows and "rmse" in rows and "accuracy" in rows
    assert "p1" not in rows and "team" not in rows and "Algoritmo" not in rows
    assert "cauce.time.fit_s" in rows


def test_show_all_rows(three, viewer_client):
    html = viewer_client.get(PAGE, {"ids": _ids(three), "all": "1"}).content.decode()

    assert {"p0", "p1", "p2", "team", "Algoritmo"} <= set(_rows(html))


def test_pinned_baseline_and_coloured_deltas(three, viewer_client):
    html = viewer_client.get(
        PAGE, {"ids": _ids(three), "baseline": str(three[2].pk)}
    ).content.decode()

    assert _columns(html) == [str(three[2].pk), str(three[0].pk), str(three[1].pk)]
    assert html.count("data-baseline") == 1
    rmse = html.split('<tr data-row="rmse"')[1].split("</tr>")[0]
    # Lower is better for rmse: 1 and 2 against the baseline's 3 are improvements.
    assert rmse.count('class="delta better"') == 2
    accuracy = html.split('<tr data-row="accuracy"')[1].split("</tr>")[0]
    assert accuracy.count('class="delta worse"') == 2


def test_sorting_by_a_metric(three, viewer_client):
    html = viewer_client.get(
        PAGE, {"ids": _ids(three), "sort": "rmse", "dir": "desc"}
    ).content.decode()

    assert _columns(html) == [str(three[0].pk), str(three[2].pk), str(three[1].pk)]


def test_charts_are_drawn_with_selectable_axes_and_a_log_scale(three, viewer_client):
    html = viewer_client.get(
        PAGE, {"ids": _ids(three), "x": "p0", "y": "rmse", "log": "rmse", "metric": "rmse"}
    ).content.decode()

    scatter = html.split('class="compare-chart scatter"')[1].split("</svg>")[0]
    assert scatter.count("<circle") == 3
    assert 'data-points="3"' in scatter
    assert "rmse (log)" in scatter
    assert 'name="log" value="rmse" checked' in html
    parallel = html.split('class="compare-chart parallel"')[1].split("</svg>")[0]
    assert parallel.count('class="pc-line') == 3
    assert "rmse (log)" in parallel
    assert 'data-name="p0"' in parallel


def test_plots_side_by_side_link_to_the_artifact_comparison(three, viewer_client):
    MLExperiment.objects.filter(pk__in=[item.pk for item in three]).update(
        plots=["plots/confusion_matrix.png"]
    )

    html = viewer_client.get(PAGE, {"ids": _ids(three)}).content.decode()

    link = re.search(r'href="([^"]+)" data-plot-link', html).group(1)
    assert link.startswith(reverse("artifacts:compare", args=[three[0].project_id]))
    assert "path=plots%2Fconfusion_matrix.png" in link


def test_csv_export_is_formula_safe(three, viewer_client):
    MLExperiment.objects.filter(pk=three[1].pk).update(name="=HYPERLINK(1)")

    response = viewer_client.get(CSV, {"ids": _ids(three), "all": "1"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][2:] == [str(item.pk) for item in three]
    assert rows[1][2:] == ["Exp 000", "'=HYPERLINK(1)", "Exp 002"]
    by_name = {row[1]: row for row in rows}
    assert by_name["p0"][2:] == ["0", "1", "2"]
    rmse_delta = next(row for row in rows if row[0] == "metric_delta" and "rmse" in row[1])
    assert [float(value) for value in rmse_delta[2:]] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("ONE", "al menos 2"),
        ("nope,nada", "no es un identificador"),
        ("MANY", "como mucho 500"),
    ],
)
def test_bad_input_is_a_clear_message(three, viewer_client, ids, message):
    ids = {"ONE": str(three[0].pk), "MANY": ",".join(str(uuid.uuid4()) for _ in range(501))}.get(
        ids, ids
    )

    response = viewer_client.get(PAGE, {"ids": ids})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_unreadable_experiment_is_404(three, outsider_client):
    assert outsider_client.get(PAGE, {"ids": _ids(three)}).status_code == 404
    assert outsider_client.get(CSV, {"ids": _ids(three)}).status_code == 404


def test_mlflow_down_is_a_message(three, viewer_client, mlflow_down):
    response = viewer_client.get(PAGE, {"ids": _ids(three)})

    assert response.status_code == 503
    assert "MLflow no disponible" in response.content.decode()


def test_the_lists_checkboxes_redirect_to_the_address(three, viewer_client):
    response = viewer_client.get(
        PAGE, {"experiments": [str(three[0].pk), str(three[1].pk)], "csrfmiddlewaretoken": "x"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?ids={three[0].pk}%2C{three[1].pk}"


def test_comparar_without_javascript_posts_and_the_address_holds_only_the_selection(three, viewer):
    """The list's "Comparar" posts the bulk form (a GET would put its CSRF token in the
    address); the answer redirects to the comparison's own address."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    html = client.get(reverse("experiments:ml_experiment_all")).content.decode()
    form = html.split('id="bulk-tags"')[0].rsplit("<form", 1)[1] + html.split('id="bulk-tags"')[1]
    form = form.split("</form>")[0]
    assert 'method="post"' in form
    button = re.search(r"<button[^>]*data-compare[^>]*>", form).group(0)
    assert f'formaction="{PAGE}"' in button and "formmethod" not in button
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)

    response = client.post(
        PAGE,
        {
            "csrfmiddlewaretoken": token,
            "next": "/experiments/",
            "tag": "",
            "experiments": [str(three[0].pk), str(three[2].pk)],
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?ids={three[0].pk}%2C{three[2].pk}"
    assert client.get(response["Location"]).status_code == 200


def test_comparar_without_a_token_is_refused(three, viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)

    response = client.post(PAGE, {"experiments": [str(three[0].pk), str(three[1].pk)]})

    assert response.status_code == 403


def test_lists_offer_comparar_to_a_viewer(three, viewer_client):
    for url in (
        reverse("experiments:ml_experiment_all"),
        reverse("experiments:ml_experiment_list", args=[three[0].project_id]),
    ):
        html = viewer_client.get(url).content.decode()
        assert "data-compare" in html
        assert html.count("data-read-only") == 3
        assert "bulk-tag" not in html.split('id="bulk-tags"')[1].split("</form>")[0]


def test_an_editor_still_tags_from_the_list(three, editor_client):
    html = editor_client.get(reverse("experiments:ml_experiment_all")).content.decode()

    assert 'id="bulk-tag"' in html and "data-compare" in html


def test_a_draft_is_compared_with_what_cauce_keeps(three, viewer_client, project, editor):
    draft = create_experiment(project=project, dataset=three[0].dataset, user=editor)

    html = viewer_client.get(PAGE, {"ids": _ids([three[0], draft])}).content.decode()

    assert "sin run" in html


@pytest.mark.parametrize(
    ("value", "spanish", "english"),
    [
        (0.966666, "0,9667", "0.9667"),
        (1234.5678, "1235", "1235"),
        (-0.5, "-0,5", "-0.5"),
        (2.0, "2", "2"),
        (0.00001234, "1,234e-05", "1.234e-05"),
        (None, "—", "—"),
    ],
)
def test_numbers_are_localized(value, spanish, english):
    from django.utils import translation

    with translation.override("es"):
        assert number_short(value) == spanish
    with translation.override("en"):
        assert number_short(value) == english


def test_the_scatter_says_which_experiments_it_left_out(three, viewer_client, project, editor):
    draft = create_experiment(project=project, dataset=three[0].dataset, user=editor)

    html = viewer_client.get(
        PAGE, {"ids": _ids([three[0], three[1], draft]), "x": "p0", "y": "accuracy"}
    ).content.decode()

    scatter = html.split('class="compare-chart scatter"')[1].split("</svg>")[0]
    assert scatter.count("<circle") == 2
    caption = html.split("data-scatter-missing>")[1].split("</span>")[0]
    assert caption.startswith("2 de 3 experimentos: los demás no tienen «")


def test_scatter_ticks_are_round_numbers():
    from cauce.experiments.compare_charts import Point, scatter_svg

    points = [
        Point(id=str(index), name=f"e{index}", values={"n": n, "acc": acc})
        for index, (n, acc) in enumerate([(37, 0.9123), (142, 0.9571), (260, 0.9333)])
    ]
    svg = str(scatter_svg(points=points, x="n", y="acc", title="t"))

    found = re.findall(r'class="tick"[^>]*text-anchor="(\w+)"><title>([^<]*)</title>', svg)
    ticks = [float(value) for _, value in found]
    for anchor in ("end", "middle"):  # Y, then X
        axis = [float(value) for side, value in found if side == anchor]
        steps = {round(b - a, 9) for a, b in itertools.pairwise(axis)}
        assert len(axis) >= 3 and len(steps) == 1, (anchor, axis)
        step = steps.pop()
        mantissa = round(step / 10 ** math.floor(math.log10(step)), 6)
        assert mantissa in (1, 2, 5), axis
        assert all(round(value / step, 6).is_integer() for value in axis), axis
    assert 0.9123 not in ticks and 37.0 not in ticks


def test_a_single_value_axis_is_centred_and_keeps_its_sign():
    from cauce.experiments.compare_charts import _Scale

    scale = _Scale.of([0.05, 0.05], log=False, start=100, end=0)
    assert scale.low > 0 and scale.high < 0.1
    assert scale(0.05) == pytest.approx(50)


def test_parallel_coordinates_are_drawn_at_their_size_without_bookkeeping_axes():
    from cauce.experiments.compare_charts import Point, parallel_svg
    from cauce.experiments.views_compare import BOOKKEEPING_PARAMS

    assert {"rows_test", "rows_total", "rows_train", "dataset_version"} <= BOOKKEEPING_PARAMS
    points = [
        Point(id=str(index), name=f"e{index}", values={"hp.lr": 0.05, "acc": acc})
        for index, acc in enumerate([0.9, 0.95])
    ]
    svg = str(parallel_svg(points=points, axes=["hp.lr", "acc"], log_axes=set(), title="t"))

    width = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert f'width="{width[1]}" height="{width[2]}"' in svg  # 1 unit = 1 px: readable text
    lr = svg.split('data-name="hp.lr"')[1].split("</g>")[0]
    low, high = (float(v) for v in re.findall(r"<title>([^<]*)</title>", lr))
    # A single value: centred, positive, near it (not -0.45 to 0.55).
    assert 0 < low < 0.05 < high < 0.1
    assert (low + high) / 2 == pytest.approx(0.05)
