"""The two experiment lists (a project's and "Experimentos"), their filters and bulk tagging."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils.html import strip_tags

from cauce.experiments import services
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.tags import MAX_TAGS
from cauce.experiments.tests.web_support import create_experiment, finish, set_state
from cauce.projects.models import Membership, Role

pytestmark = pytest.mark.django_db

ALL_URL = "/experiments/"
BULK_URL = "/experiments/bulk-tags/"


def _list_url(project) -> str:
    return reverse("experiments:ml_experiment_list", args=[project.pk])


def _names(response) -> list[str]:
    return [experiment.name for experiment in response.context["experiments"]]


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _tags(experiment) -> list[str]:
    return sorted(experiment.tags.names())


def _get_counting_queries(client, url: str, params: dict):
    """GET and the SQL it ran (a wrapper on the connection: the request resets its log)."""
    queries: list[str] = []

    def record(execute, sql, sql_params, many, context):
        queries.append(sql)
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(record):
        response = client.get(url, params)
    return response, queries


@pytest.fixture
def tagged(media_root, project, iris_dataset, editor):
    specs = [("Alfa", ["a", "b", "x"]), ("Beta", ["a"]), ("Gamma", ["b", "c"]), ("Delta", [])]
    return {
        name: create_experiment(
            project=project, dataset=iris_dataset, user=editor, name=name, tags=tags
        )
        for name, tags in specs
    }


@pytest.fixture
def foreign(other_project, make_dataset, iris_csv_bytes, outsider, media_root):
    """An experiment of a project the editor is no member of, tagged like theirs."""
    dataset = make_dataset(other_project, iris_csv_bytes, user=outsider)
    return create_experiment(
        project=other_project, dataset=dataset, user=outsider, name="Ajeno", tags=["a", "b"]
    )


# --- filtering -------------------------------------------------------------------------------


def test_the_project_list_filters_by_all_of_two_tags_with_chip_counts(editor_client, tagged):
    response = editor_client.get(_list_url(tagged["Alfa"].project), {"tags": "a,b"})
    assert response.status_code == 200
    assert _names(response) == ["Alfa"]
    chips = [(chip.name, chip.count, chip.chosen) for chip in response.context["tag_counts"]]
    assert chips == [("a", 1, True), ("b", 1, True), ("x", 1, False)]
    page = response.content.decode()
    assert '<a class="chip" data-chip="x" href="?tags=a%2Cb%2Cx"' in page  # click: add it
    assert "1 experimento" in page


def test_the_project_list_filters_by_any_of_two_tags(editor_client, tagged):
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.get(url, {"tags": ["a", "b"], "tags_mode": "any"})
    assert sorted(_names(response)) == ["Alfa", "Beta", "Gamma"]
    chips = {chip.name: chip.count for chip in response.context["tag_counts"]}
    assert chips == {"a": 2, "b": 2, "c": 1, "x": 1}
    assert 'value="any" checked' in response.content.decode().replace('id="id_tags_mode_1" ', "")


def test_filters_combine_and_are_kept_in_the_links(editor_client, tagged):
    finish(tagged["Alfa"])
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.get(url, {"tags": "b", "status": "FINISHED", "q": "alf"})
    assert _names(response) == ["Alfa"]
    assert response.context["filters"].query() == "q=alf&tags=b&status=FINISHED"
    page = response.content.decode()
    # Removing the chosen tag keeps the other filters.
    assert 'href="?q=alf&amp;status=FINISHED" aria-label="Quitar «b» del filtro"' in page
    by_algorithm = editor_client.get(url, {"algorithm": "RandomForestClassifier"})
    assert _names(by_algorithm) == []
    assert "Ningún experimento cumple estos filtros." in by_algorithm.content.decode()


def test_a_bad_filter_value_is_reported_and_left_out(editor_client, tagged):
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.get(url, {"status": "BOGUS", "tags": "a"})
    assert response.status_code == 200
    assert sorted(_names(response)) == ["Alfa", "Beta"]  # the tag filter still applies
    assert "Escoja una opción válida" in response.content.decode()


def test_a_dataset_of_another_project_is_not_a_choice(editor_client, tagged, foreign):
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.get(url, {"dataset": foreign.dataset_id})
    assert sorted(_names(response)) == ["Alfa", "Beta", "Delta", "Gamma"]
    assert "Escoja una opción válida" in response.content.decode()


def test_the_list_is_paginated_and_pages_keep_the_filter(editor_client, tagged):
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.get(url, {"tags": "a,b", "tags_mode": "any", "per_page": 10})
    assert response.context["page"].paginator.per_page == 10
    first = editor_client.get(url, {"per_page": 10})
    assert first.context["page"].paginator.count == 4
    default = editor_client.get(url)
    assert default.context["page"].paginator.per_page == 50


def test_pages_cost_the_same_queries_whatever_their_size(
    editor_client, project, iris_dataset, editor, media_root
):
    for index in range(12):
        create_experiment(
            project=project, dataset=iris_dataset, user=editor, name=f"E{index}", tags=["a", "b"]
        )
    counts = []
    for size in (10, 25):
        response, queries = _get_counting_queries(
            editor_client, _list_url(project), {"tags": "a,b", "per_page": size}
        )
        assert len(response.context["experiments"]) == min(size, 12)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # session, user, membership, filter choices (2), count, page, its tags, chips
    assert counts[0] == 9


# --- sorting ---------------------------------------------------------------------------------


@pytest.fixture
def scored(media_root, project, iris_dataset, editor):
    """Two classifications and two regressions with their main metrics, one without any."""
    specs = [
        ("Beta", "species", "LogisticRegression", {"f1_macro": 0.8, "accuracy": 0.81}),
        ("alfa", "species", "RandomForestClassifier", {"f1_macro": 0.95}),
        ("Gamma", "petal_width", "LinearRegression", {"r2": 0.5}),
        ("Delta", "petal_width", "Ridge", {"r2": 0.99}),
        ("Épsilon", "species", "LogisticRegression", {}),
    ]
    made = {}
    for name, target, algorithm, metrics in specs:
        experiment = create_experiment(
            project=project,
            dataset=iris_dataset,
            user=editor,
            name=name,
            target_column=target,
            algorithm=algorithm,
        )
        made[name] = set_state(experiment, metrics=metrics)
    return made


def _header(page: str, key: str) -> str:
    start = page.index(f'data-sort-key="{key}"')
    return page[page.rindex("<th", 0, start) : page.index("</th>", start)]


def test_the_list_sorts_by_name_ignoring_case_and_the_header_says_so(editor_client, scored):
    url = _list_url(scored["alfa"].project)
    response = editor_client.get(url, {"ordering": "name"})
    # Case is ignored; accents follow the database's order (É after the ASCII letters).
    assert _names(response) == ["alfa", "Beta", "Delta", "Gamma", "Épsilon"]
    page = response.content.decode()
    header = _header(page, "name")
    assert 'aria-sort="ascending"' in header
    assert 'href="?ordering=-name"' in header  # again: the other way round
    assert "aria-sort" not in _header(page, "status")
    backwards = editor_client.get(url, {"ordering": "-name"})
    assert _names(backwards) == ["Épsilon", "Gamma", "Delta", "Beta", "alfa"]
    assert 'aria-sort="descending"' in _header(backwards.content.decode(), "name")


def test_sorting_by_the_main_metric_groups_by_task_type_best_first(editor_client, scored):
    url = _list_url(scored["alfa"].project)
    response = editor_client.get(url, {"ordering": "-main_metric"})
    # Classifications by f1_macro (the one without a metric last), then regressions by r2.
    assert _names(response) == ["alfa", "Beta", "Épsilon", "Delta", "Gamma"]
    page = response.content.decode()
    assert "data-sort-note" in page
    assert 'aria-sort="descending"' in _header(page, "main_metric")
    worst_first = editor_client.get(url, {"ordering": "main_metric"})
    assert _names(worst_first) == ["Beta", "alfa", "Épsilon", "Gamma", "Delta"]
    newest_first = editor_client.get(url)
    assert "data-sort-note" not in newest_first.content.decode()


def test_the_main_metric_cell_names_its_metric(editor_client, scored):
    page = editor_client.get(_list_url(scored["alfa"].project), {"ordering": "name"})
    cells = re.findall(r"<td class=\"num\" data-main-metric>(.*?)</td>", page.content.decode())
    texts = [strip_tags(cell) for cell in cells]
    assert texts == ["f1_macro 0,950", "f1_macro 0,800", "r2 0,990", "r2 0,500", "—"]
    assert 'title="f1_macro = 0,95"' in cells[0]


def test_the_sort_is_kept_with_the_filters_and_the_pages(editor_client, scored):
    url = _list_url(scored["alfa"].project)
    params = {"ordering": "status", "algorithm": "LogisticRegression", "per_page": 10}
    response = editor_client.get(url, params)
    assert _names(response) == ["Épsilon", "Beta"]  # same status: newest first
    assert response.context["filters"].query() == "algorithm=LogisticRegression&ordering=status"
    assert "ordering=status" in response.context["list_query"]
    page = response.content.decode()
    assert '<input type="hidden" name="ordering" value="status">' in page
    # Another column's header keeps the filters and the page size.
    assert 'href="?algorithm=LogisticRegression&amp;ordering=name&amp;per_page=10"' in page


def test_an_unknown_sort_falls_back_to_newest_first(editor_client, scored):
    response = editor_client.get(_list_url(scored["alfa"].project), {"ordering": "bogus"})
    assert response.status_code == 200
    assert _names(response) == ["Épsilon", "Delta", "Gamma", "alfa", "Beta"]
    assert 'aria-sort="descending"' in _header(response.content.decode(), "created")


def test_the_experiments_page_sorts_by_project_and_dataset(
    editor_client, scored, other_project, make_dataset, iris_csv_bytes, editor
):
    Membership.objects.create(user=editor, project=other_project, role=Role.EDITOR)
    dataset = make_dataset(other_project, iris_csv_bytes, user=editor)
    create_experiment(project=other_project, dataset=dataset, user=editor, name="Zeta")
    response = editor_client.get(ALL_URL, {"ordering": "-project"})
    projects = [experiment.project.name for experiment in response.context["experiments"]]
    assert projects == sorted(projects, key=str.lower, reverse=True)
    assert len(set(projects)) == 2
    page = response.content.decode()
    assert 'aria-sort="descending"' in _header(page, "project")
    assert 'data-sort-key="dataset"' in page


def test_tags_are_escaped_in_chips_rows_and_autocompletion(
    editor_client, project, editor, iris_dataset
):
    evil = '<script>alert("x")</script>'
    create_experiment(project=project, dataset=iris_dataset, user=editor, name="XSS", tags=[evil])
    response = editor_client.get(_list_url(project), {"tags": evil})
    page = response.content.decode()
    assert _names(response) == ["XSS"]
    assert "<script>alert" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert f'<span class="chip chosen" data-chip="{escaped}">{escaped}' in page
    assert f'<option value="{escaped}"></option>' in page
    assert f'<input type="hidden" name="tags" value="{escaped}">' in page
    everywhere = editor_client.get(ALL_URL).content.decode()
    assert "<script>alert" not in everywhere
    assert escaped in everywhere


def test_the_list_is_404_for_outsiders_even_with_filters(outsider_client, tagged):
    response = outsider_client.get(_list_url(tagged["Alfa"].project), {"tags": "a"})
    assert response.status_code == 404


def test_the_experiments_page_shows_every_project_of_the_user_and_nothing_else(
    editor_client, tagged, foreign, editor
):
    response = editor_client.get(ALL_URL, {"tags": "a,b"})
    assert response.status_code == 200
    assert _names(response) == ["Alfa"]
    page = response.content.decode()
    assert "Ajeno" not in page
    assert "Outsider&#x27;s project" not in page
    assert 'href="/experiments/">Experimentos</a>' in page  # the top bar's entry
    # Asking for the outsider's project is refused, not answered with its experiments.
    asked = editor_client.get(ALL_URL, {"project": foreign.project_id})
    assert "Escoja una opción válida" in asked.content.decode()
    assert "Ajeno" not in asked.content.decode()


def test_the_experiments_page_filters_by_project_and_shows_it(
    editor_client, tagged, foreign, editor
):
    Membership.objects.create(project=foreign.project, user=editor, role=Role.VIEWER)
    response = editor_client.get(ALL_URL, {"tags": "a"})
    assert sorted(_names(response)) == ["Ajeno", "Alfa", "Beta"]
    page = response.content.decode()
    assert "Outsider&#x27;s project" in page
    # The viewer's row can be marked to compare it, and says it is read-only for tagging.
    assert f'value="{foreign.pk}" form="bulk-tags" data-select data-read-only' in page
    assert f'value="{tagged["Alfa"].pk}" form="bulk-tags" data-select aria-label' in page
    only = editor_client.get(ALL_URL, {"tags": "a", "project": foreign.project_id})
    assert _names(only) == ["Ajeno"]


def test_the_mlflow_link_searches_the_projects_runs_by_the_tags(editor_client, tagged, settings):
    settings.MLFLOW_PUBLIC_URL = "http://mlflow.example:5000/"
    project = tagged["Alfa"].project
    project.mlflow_experiment_id = "7"
    project.save(update_fields=["mlflow_experiment_id"])
    response = editor_client.get(_list_url(project), {"tags": "a,b"})
    assert response.context["mlflow_search_url"] == (
        "http://mlflow.example:5000/#/experiments/7/runs?searchFilter="
        "tags.%60cauce.tag.a%60%20%3D%20%27true%27%20AND%20tags.%60cauce.tag.b%60%20%3D%20%27true%27"
    )
    any_of = editor_client.get(_list_url(project), {"tags": "a,b", "tags_mode": "any"})
    assert any_of.context["mlflow_search_url"] == ""
    assert "MLflow no admite «cualquiera de»" in any_of.content.decode()
    assert editor_client.get(_list_url(project)).context["mlflow_search_url"] == ""


def test_tag_editing_offers_the_projects_tags(editor_client, tagged, foreign):
    edit = editor_client.get(reverse("experiments:ml_experiment_edit", args=[tagged["Beta"].pk]))
    page = edit.content.decode()
    assert 'list="tag-options"' in page
    for name in ("a", "b", "c", "x"):
        assert f'<option value="{name}"></option>' in page
    create = editor_client.get(
        reverse("experiments:ml_experiment_create", args=[tagged["Beta"].project_id])
    ).content.decode()
    assert '<option value="x"></option>' in create
    assert "experiments/tag_input.js" in create
    assert edit.context["tag_names"] == ["a", "b", "c", "x"]  # not the outsider's tags


# --- bulk tagging ----------------------------------------------------------------------------


def test_bulk_add_changes_the_checked_experiments_only(editor_client, tagged):
    back = _list_url(tagged["Alfa"].project) + "?tags=a"
    response = editor_client.post(
        BULK_URL,
        {
            "experiments": [tagged["Beta"].pk, tagged["Gamma"].pk, tagged["Delta"].pk],
            "tag": " nuevo ",
            "action": "add",
            "next": back,
        },
    )
    assert response.status_code == 302
    assert response.url == back
    assert _messages(response) == [("success", "Etiqueta «nuevo» añadida a 3 experimentos.")]
    assert _tags(tagged["Beta"]) == ["a", "nuevo"]
    assert _tags(tagged["Gamma"]) == ["b", "c", "nuevo"]
    assert _tags(tagged["Delta"]) == ["nuevo"]
    assert _tags(tagged["Alfa"]) == ["a", "b", "x"]


def test_bulk_remove_reports_the_experiments_without_the_tag(editor_client, tagged):
    response = editor_client.post(
        BULK_URL,
        {"experiments": [tagged["Alfa"].pk, tagged["Beta"].pk, tagged["Delta"].pk],
         "tag": "A", "action": "remove"},
    )  # fmt: skip
    assert _messages(response) == [
        ("success", "Etiqueta «A» quitada de 2 experimentos."),
        ("info", "No la tenían: «Delta»."),
    ]
    assert _tags(tagged["Alfa"]) == ["b", "x"]
    assert _tags(tagged["Beta"]) == []
    assert response.url == ALL_URL  # no "next": back to the Experimentos page


def test_bulk_tagging_with_mixed_permissions_and_one_failing_experiment(
    client, editor, tagged, foreign, other_project, outsider, media_root, iris_csv_bytes,
    make_dataset,
):  # fmt: skip
    # The editor reads a third project, is an outsider to a fourth (``foreign``'s).
    from cauce.projects.models import Project

    readable = Project.objects.create(name="Solo lectura", created_by=outsider)
    Membership.objects.create(project=readable, user=outsider, role=Role.OWNER)
    Membership.objects.create(project=readable, user=editor, role=Role.VIEWER)
    dataset = make_dataset(readable, iris_csv_bytes, user=outsider)
    read_only = create_experiment(
        project=readable, dataset=dataset, user=outsider, name="Leído", tags=["a"]
    )
    full = tagged["Gamma"]
    services.experiment_tags_set(experiment=full, tags=[f"t{index}" for index in range(MAX_TAGS)])
    client.force_login(editor)
    response = client.post(
        BULK_URL,
        {
            "experiments": [
                tagged["Beta"].pk,
                full.pk,
                read_only.pk,
                foreign.pk,
                tagged["Delta"].pk,
            ],
            "tag": "lote",
            "action": "add",
        },
    )
    assert _messages(response) == [
        ("success", "Etiqueta «lote» añadida a 2 experimentos."),
        (
            "warning",
            "No se cambió «Leído»: solo tiene permiso de lectura en el proyecto «Solo lectura».",
        ),
        (
            "error",
            f"No se pudo cambiar «Gamma»: Un experimento admite como mucho {MAX_TAGS} "
            f"etiquetas (ha indicado {MAX_TAGS + 1}).",
        ),
        ("warning", "1 experimento seleccionado no existe o no es de sus proyectos: no se cambió."),
    ]
    assert _tags(tagged["Beta"]) == ["a", "lote"]
    assert _tags(tagged["Delta"]) == ["lote"]
    assert "lote" not in _tags(full)
    assert len(_tags(full)) == MAX_TAGS
    assert _tags(read_only) == ["a"]
    assert _tags(foreign) == ["a", "b"]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("   ", "Escriba la etiqueta que quiere añadir o quitar."),
        ("a,b", "Una etiqueta no puede contener comas: «a,b»."),
    ],
)
def test_bulk_tagging_refuses_a_bad_tag_and_changes_nothing(editor_client, tagged, tag, message):
    response = editor_client.post(
        BULK_URL, {"experiments": [tagged["Delta"].pk], "tag": tag, "action": "add"}
    )
    assert _messages(response) == [("error", message)]
    assert _tags(tagged["Delta"]) == []


def test_bulk_tagging_needs_a_selection(editor_client, tagged):
    response = editor_client.post(BULK_URL, {"tag": "x", "action": "add"})
    assert _messages(response) == [("error", "Marque al menos un experimento.")]


def test_bulk_tagging_refuses_a_malformed_selection(editor_client, tagged):
    response = editor_client.post(
        BULK_URL, {"experiments": ["not-a-uuid", tagged["Delta"].pk], "tag": "x", "action": "add"}
    )
    assert _messages(response) == [("error", "La selección de experimentos no es válida.")]
    assert _tags(tagged["Delta"]) == []


def test_bulk_tagging_refuses_an_unknown_action(editor_client, tagged):
    response = editor_client.post(
        BULK_URL, {"experiments": [tagged["Delta"].pk], "tag": "x", "action": "drop"}
    )
    assert _messages(response) == [
        ("error", "Escoja una opción válida. drop no es una de las opciones disponibles.")
    ]
    assert _tags(tagged["Delta"]) == []


def test_bulk_tagging_ignores_an_outside_next_address(editor_client, tagged):
    response = editor_client.post(
        BULK_URL,
        {"experiments": [tagged["Delta"].pk], "tag": "x", "action": "add",
         "next": "https://evil.example/"},
    )  # fmt: skip
    assert response.url == ALL_URL


def test_bulk_tagging_is_post_only_and_needs_a_login(client, editor_client, tagged):
    assert editor_client.get(BULK_URL).status_code == 405
    anonymous = client.__class__().post(
        BULK_URL, {"experiments": [tagged["Delta"].pk], "tag": "x", "action": "add"}
    )
    assert anonymous.status_code == 302
    assert anonymous.url.startswith(reverse("login"))
    assert _tags(tagged["Delta"]) == []


def test_viewers_see_no_bulk_tag_controls_but_can_compare(viewer_client, tagged):
    page = viewer_client.get(_list_url(tagged["Alfa"].project)).content.decode()
    assert 'id="bulk-tag"' not in page
    assert "Añadir a los marcados" not in page
    assert "data-compare" in page


def test_bulk_tagging_by_a_viewer_changes_nothing(viewer_client, tagged):
    response = viewer_client.post(
        BULK_URL, {"experiments": [tagged["Delta"].pk], "tag": "x", "action": "add"}
    )
    assert _messages(response) == [
        (
            "warning",
            "No se cambió «Delta»: solo tiene permiso de lectura en el proyecto «Iris lab».",
        )
    ]
    assert not MLExperiment.objects.get(pk=tagged["Delta"].pk).tags.exists()


# --- "Sincronización: pendiente" ---------------------------------------------------------------


@pytest.fixture
def pending(tagged):
    """Alfa and Beta have runs; Alfa's latest tag change has not reached its run yet."""
    for name in ("Alfa", "Beta"):
        finish(tagged[name])
    # What the run's start writes: the tags at creation are in MLflow.
    TagSyncState.objects.update(synced_version=F("version"))
    services.experiment_tags_set(experiment=tagged["Alfa"], tags=["a", "b", "x", "nueva"])
    return tagged


def test_the_list_filters_on_pending_sync_and_marks_the_rows(editor_client, pending):
    url = _list_url(pending["Alfa"].project)
    response = editor_client.get(url, {"sync": "pending"})
    assert _names(response) == ["Alfa"]
    assert response.context["filters"].query() == "sync=pending"
    page = response.content.decode()
    assert page.count("data-sync-pending") == 1
    assert ">pendiente</span>" in page
    synced = editor_client.get(url, {"sync": "synced", "tags": "a"})
    assert _names(synced) == ["Beta"]
    assert "data-sync-pending" not in synced.content.decode()
    everything = editor_client.get(url)
    assert everything.content.decode().count("data-sync-pending") == 1  # Alfa's row only


def test_the_api_filters_on_pending_sync(editor_api, pending):
    def names(**params):
        response = editor_api.get("/api/experiments/", params)
        assert response.status_code == 200
        return sorted(item["name"] for item in response.json()["results"])

    assert names(sync="pending") == ["Alfa"]
    assert names(sync="synced", tags="a") == ["Beta"]
    assert editor_api.get("/api/experiments/", {"sync": "maybe"}).status_code == 400


# --- POST /api/experiments/bulk-tags/ ------------------------------------------------------------


def test_the_api_bulk_tags_and_reports_each_experiment(api_client, editor, viewer, tagged, foreign):
    Membership.objects.filter(user=editor).delete()
    Membership.objects.create(project=tagged["Alfa"].project, user=editor, role=Role.EDITOR)
    full = tagged["Gamma"]
    services.experiment_tags_set(experiment=full, tags=[f"t{index}" for index in range(MAX_TAGS)])
    api_client.force_authenticate(editor)
    response = api_client.post(
        "/api/experiments/bulk-tags/",
        {
            "experiments": [str(tagged["Alfa"].pk), str(full.pk), str(tagged["Beta"].pk),
                            str(foreign.pk)],
            "tag": " x ",
            "action": "add",
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["tag"] == "x"
    assert body["changed"] == [str(tagged["Beta"].pk)]
    assert body["unchanged"] == [str(tagged["Alfa"].pk)]
    assert body["refused"] == []
    assert body["failed"] == [
        {
            "id": str(full.pk),
            "name": "Gamma",
            "reason": f"Un experimento admite como mucho {MAX_TAGS} etiquetas "
            f"(ha indicado {MAX_TAGS + 1}).",
        }
    ]
    assert body["missing"] == 1
    assert _tags(tagged["Beta"]) == ["a", "x"]
    assert _tags(foreign) == ["a", "b"]


def test_the_api_bulk_tagging_refuses_viewers_per_experiment(api_client, viewer, tagged):
    api_client.force_authenticate(viewer)
    response = api_client.post(
        "/api/experiments/bulk-tags/",
        {"experiments": [str(tagged["Delta"].pk)], "tag": "x", "action": "add"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["refused"] == [
        {
            "id": str(tagged["Delta"].pk),
            "name": "Delta",
            "reason": "solo tiene permiso de lectura en el proyecto «Iris lab»",
        }
    ]
    assert _tags(tagged["Delta"]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"experiments": [], "tag": "x", "action": "add"}, "experiments"),
        ({"experiments": ["nope"], "tag": "x", "action": "add"}, "experiments"),
        ({"experiments": ["00000000-0000-0000-0000-000000000000"], "tag": "x", "action": "drop"},
         "action"),
        ({"experiments": ["00000000-0000-0000-0000-000000000000"], "tag": "  ", "action": "add"},
         "tag"),
        ({"experiments": ["00000000-0000-0000-0000-000000000000"], "tag": "a,b", "action": "add"},
         "tag"),
    ],
)  # fmt: skip
def test_the_api_bulk_tagging_refuses_bad_input(editor_api, tagged, body, field):
    response = editor_api.post("/api/experiments/bulk-tags/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert _tags(tagged["Delta"]) == []


def test_the_api_bulk_tagging_needs_authentication(api_client, tagged):
    response = api_client.post(
        "/api/experiments/bulk-tags/",
        {"experiments": [str(tagged["Delta"].pk)], "tag": "x", "action": "add"},
        format="json",
    )
    assert response.status_code == 401
    assert _tags(tagged["Delta"]) == []


def test_a_bulk_tagged_html_tag_is_escaped_in_the_message_and_the_list(editor_client, tagged):
    evil = "<img src=x onerror=alert(1)>"
    url = _list_url(tagged["Alfa"].project)
    response = editor_client.post(
        BULK_URL,
        {"experiments": [tagged["Delta"].pk], "tag": evil, "action": "add", "next": url},
        follow=True,
    )
    page = response.content.decode()
    assert _tags(tagged["Delta"]) == [evil]
    assert "<img src=x" not in page
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert f"Etiqueta «{escaped}» añadida a 1 experimento." in page
    assert f'<a class="chip" data-chip="{escaped}"' in page


def test_the_experiment_page_links_each_tag_to_the_filtered_list(
    editor_client, project, editor, iris_dataset, media_root
):
    experiment = create_experiment(
        project=project, dataset=iris_dataset, user=editor, tags=["v2 & más", "<b>"]
    )
    page = editor_client.get(
        reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    ).content.decode()
    base = f"/projects/{project.pk}/experiments/?tags="
    assert f'<a class="tag" href="{base}v2%20%26%20m%C3%A1s"' in page
    title = "Experimentos del proyecto con esta etiqueta"
    assert f'<a class="tag" href="{base}%3Cb%3E" title="{title}">&lt;b&gt;</a>' in page
