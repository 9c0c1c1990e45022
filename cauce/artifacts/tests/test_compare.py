"""Comparing one artifact path across runs, against a real MLflow server."""

from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from cauce.artifacts.compare import artifact_compare, csv_summary, normalized_json
from cauce.artifacts.tests.test_preview import PNG

SECOND_PNG = PNG.replace(b"IHDR", b"IHDR", 1) + b"\x00"
FIRST = {
    "plots/plot.png": PNG,
    "metrics.json": b'{"f1": 0.80, "accuracy": 0.85, "classes": ["a", "b"]}',
    "predictions.csv": b"x,label\n1,a\n2,b\n3,a\n",
    "report.txt": b"uno\ndos\ntres\n",
    "only-first.txt": b"solo en el primero\n",
}
SECOND = {
    "plots/plot.png": SECOND_PNG,
    # Same content except f1, keys in another order: only f1 may show in the diff.
    "metrics.json": b'{"classes": ["a", "b"], "accuracy": 0.85, "f1": 0.92}',
    "predictions.csv": b"x,label\n10,a\n20,a\n30,a\n40,c\n",
    "report.txt": b"uno\nDOS\ntres\n",
}


@pytest.fixture
def pair(make_run_experiment):
    return [
        make_run_experiment(FIRST, name="Primero"),
        make_run_experiment(SECOND, name="Segundo"),
    ]


def compare_url(project):
    return reverse("artifacts:compare", args=[project.pk])


def get(client, project, experiments, path=None):
    query = {"experiments": [str(experiment.pk) for experiment in experiments]}
    if path is not None:
        query["path"] = path
    return client.get(compare_url(project), query)


def test_it_lists_the_projects_experiments_that_have_a_run(viewer_client, project, pair):
    response = viewer_client.get(compare_url(project))
    html = response.content.decode()
    assert response.status_code == 200
    for experiment in pair:
        assert f'value="{experiment.pk}"' in html
    assert "Elija al menos dos experimentos" in html


def test_with_one_experiment_it_asks_for_two(viewer_client, project, pair):
    response = get(viewer_client, project, pair[:1])
    assert response.status_code == 200
    assert "Elija al menos dos experimentos" in response.content.decode()
    assert "choices" not in response.context


def test_it_offers_the_union_of_paths_with_how_many_runs_hold_each(viewer_client, project, pair):
    response = get(viewer_client, project, pair)
    choices = {choice.path: choice.count for choice in response.context["choices"]}
    assert choices == {
        "metrics.json": 2,
        "only-first.txt": 1,
        "plots/plot.png": 2,
        "predictions.csv": 2,
        "report.txt": 2,
    }
    assert "only-first.txt (en 1 de 2 runs)" in response.content.decode()


def test_it_shows_images_side_by_side(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "plots/plot.png")
    html = response.content.decode()
    runs = response.context["comparison"].runs
    assert [run.experiment for run in runs] == pair
    for run in runs:
        assert f'<img class="artifact-image" src="{run.inline_url.replace("&", "&amp;")}"' in html
    second = viewer_client.get(runs[1].inline_url)
    assert b"".join(second.streaming_content) == SECOND_PNG


def test_a_json_diff_shows_only_the_changed_key(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "metrics.json")
    (diff,) = response.context["comparison"].diffs
    changed = [(line.kind, line.text) for line in diff.lines if line.kind in ("add", "del")]
    assert changed == [("del", '-  "f1": 0.8'), ("add", '+  "f1": 0.92')]
    html = response.content.decode()
    assert '<span class="diff-add">+  &quot;f1&quot;: 0.92</span>' in html
    assert "Diferencias: Primero → Segundo" in html


def test_a_text_diff_shows_the_changed_line(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "report.txt")
    (diff,) = response.context["comparison"].diffs
    assert [line.text for line in diff.lines if line.kind in ("add", "del")] == ["-dos", "+DOS"]


def test_it_shows_csv_summaries_side_by_side(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "predictions.csv")
    first, second = (run.csv for run in response.context["comparison"].runs)
    assert (first.rows, second.rows) == (3, 4)
    assert first.header == second.header == ["x", "label"]
    assert (first.columns[0].mean, first.columns[0].minimum, first.columns[0].maximum) == (
        2.0,
        1.0,
        3.0,
    )
    assert second.columns[0].mean == 25.0
    assert not first.columns[1].numeric
    assert (first.columns[1].distinct_count, second.columns[1].distinct_count) == (2, 2)
    assert second.first_rows[0] == (1, ["10", "a"])
    html = response.content.decode()
    assert '<dd class="csv-rows">4</dd>' in html
    assert "25,0000" in html  # Spanish decimal comma


def test_a_path_missing_in_one_run_is_marked(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "only-first.txt")
    first, second = response.context["comparison"].runs
    assert first.exists
    assert second.entry is None
    assert "No existe en este run." in response.content.decode()
    assert response.context["comparison"].diffs == []


def test_more_than_two_runs_are_each_diffed_against_the_first(
    viewer_client, project, pair, make_run_experiment
):
    third = make_run_experiment({"report.txt": b"uno\ndos\ntres\ncuatro\n"}, name="Tercero")
    comparison = artifact_compare(experiments=[*pair, third], path="report.txt")
    assert [(d.base.experiment, d.other.experiment) for d in comparison.diffs] == [
        (pair[0], pair[1]),
        (pair[0], third),
    ]
    assert [line.text for line in comparison.diffs[1].lines if line.kind == "add"] == ["+cuatro"]


def test_an_experiment_of_another_project_is_404(
    viewer_client, project, pair, make_run_experiment, other_project
):
    foreign = make_run_experiment({"metrics.json": b"{}"}, for_project=other_project)
    response = get(viewer_client, project, [*pair, foreign], "metrics.json")
    assert response.status_code == 404
    assert b"Run con artefactos" not in response.content


def test_a_malformed_experiment_id_is_404(viewer_client, project, pair):
    response = viewer_client.get(
        compare_url(project), {"experiments": [str(pair[0].pk), "not-a-uuid"]}
    )
    assert response.status_code == 404


def test_it_rejects_a_bad_path(viewer_client, project, pair):
    response = get(viewer_client, project, pair, "../metrics.json")
    assert response.status_code == 400


def test_an_outsider_gets_404(outsider_client, project, pair):
    assert get(outsider_client, project, pair, "metrics.json").status_code == 404
    assert outsider_client.get(compare_url(project)).status_code == 404


def test_json_is_normalized_before_the_diff():
    text, note = normalized_json('{"b": 1, "a": {"d": 2, "c": 3}}')
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}'
    assert note == ""
    assert normalized_json("{oops")[0] == "{oops"


def test_a_csv_summary_counts_every_row_in_one_pass():
    rows = iter([["n", "s"], ["1", "x"], ["", "y"], ["3", "x"], ["nan", "z"]])
    summary = csv_summary(rows)
    number, text = summary.columns
    assert summary.rows == 4
    assert (number.numeric, number.count, number.mean) == (True, 2, 2.0)
    assert (text.numeric, text.distinct_count) == (False, 3)


def test_a_path_chosen_before_two_experiments_waits_in_the_form(viewer_client, project, pair):
    response = get(viewer_client, project, pair[:1], "metrics.json")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<input type="hidden" name="path" value="metrics.json">' in html
    assert "Elija al menos dos experimentos" in html


def test_the_first_rows_of_a_csv_read_in_the_page_s_number_format():
    summary = SimpleNamespace(
        rows=1,
        header=["id", "score"],
        columns=[],
        first_rows=[(1, ["00123", "0.8769642857142856"])],
    )
    with translation.override("es"):
        html = render_to_string("artifacts/compare_csv.html", {"summary": summary})
    assert '<td class="num" title="0.8769642857142856">0,877</td>' in html
    assert "<td>00123</td>" in html
