"""Bad tags: each has a stated rule (README, "Tag rules"), the same on every path.

A refused edit changes nothing: not the tags, not the outbox (so nothing reaches MLflow).
"""

import pytest
from django.urls import reverse

from cauce.experiments import services
from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.runner import experiment_mlflow_tags

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


def _version(experiment) -> int:
    return TagSyncState.objects.get(pk=experiment.pk).version


def _tags(experiment) -> list[str]:
    return sorted(MLExperiment.objects.get(pk=experiment.pk).tags.names())


def test_empty_and_whitespace_tags_are_dropped_and_spaces_collapsed(experiment, editor):
    services.experiment_update(
        experiment=experiment, user=editor, tags=["", "   ", "\t", "  dos   palabras "]
    )
    assert _tags(experiment) == ["dos palabras"]


def test_case_is_kept_and_case_duplicates_dropped(experiment, editor):
    services.experiment_update(experiment=experiment, user=editor, tags=["Iris", "iris", "IRIS"])
    assert _tags(experiment) == ["Iris"]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["a,b"], "Una etiqueta no puede contener comas: «a,b»."),
        (["x" * 101], "supera los 100 caracteres"),
        ([f"t{index}" for index in range(500)], "como mucho 100 etiquetas (ha indicado 500)"),
    ],
    ids=["comma", "too-long", "500-tags"],
)
def test_the_api_refuses_bad_tags_and_changes_nothing(experiment, editor_api, tags, message):
    version = _version(experiment)
    response = editor_api.patch(
        f"/api/experiments/{experiment.pk}/", {"tags": tags, "name": "Otro"}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert _tags(experiment) == ["base"]
    assert MLExperiment.objects.get(pk=experiment.pk).name == "Iris base"
    assert _version(experiment) == version


def test_the_page_refuses_a_too_long_tag_with_the_message_on_the_field(experiment, editor_client):
    url = reverse("experiments:ml_experiment_edit", args=[experiment.pk])
    response = editor_client.post(url, {"name": "Iris base", "tags": "ok, " + "y" * 101})
    assert response.status_code == 200
    assert "supera los 100 caracteres" in response.content.decode()
    assert _tags(experiment) == ["base"]


def test_one_hundred_tags_are_accepted(experiment, editor):
    names = [f"t{index:03d}" for index in range(100)]
    services.experiment_tags_set(experiment=experiment, tags=names)
    assert _tags(experiment) == names


def test_unicode_tags_are_kept_exactly_and_sent_as_they_are(experiment, editor_client):
    url = reverse("experiments:ml_experiment_edit", args=[experiment.pk])
    editor_client.post(url, {"name": "Iris base", "tags": "Ñandú, 日本語, cohete 🚀, Ω"})
    assert _tags(experiment) == ["cohete 🚀", "Ñandú", "Ω", "日本語"]
    tags = experiment_mlflow_tags(MLExperiment.objects.get(pk=experiment.pk))
    assert tags["all_tags"] == "cohete 🚀,Ñandú,Ω,日本語"
    assert tags["tag_3"] == "日本語"


def test_html_in_a_tag_is_shown_escaped_everywhere(experiment, editor, editor_client, admin_client):
    services.experiment_update(
        experiment=experiment, user=editor, tags=[XSS], description=f"desc {XSS}"
    )
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    pages = [
        reverse("experiments:ml_experiment_detail", args=[experiment.pk]),
        reverse("experiments:ml_experiment_list", args=[experiment.project_id]),
        reverse("experiments:ml_experiment_all"),
        reverse("experiments:ml_experiment_edit", args=[experiment.pk]),
    ]
    for url in pages:
        body = editor_client.get(url).content.decode()
        assert escaped in body, url
        assert XSS not in body, url
    admin_pages = [
        reverse("admin:experiments_taggedexperiment_changelist"),
        reverse("admin:experiments_mlexperiment_change", args=[experiment.pk]),
    ]
    for url in admin_pages:
        body = admin_client.get(url).content.decode()
        assert XSS not in body, url
    # MLflow gets the text itself (its UI escapes it too).
    assert experiment_mlflow_tags(experiment)["tag_0"] == XSS


# --- the admin goes through the same rules and the outbox ---------------------------------------


def _admin_change_data(experiment, **overrides) -> dict:
    data = {
        "project": experiment.project_id,
        "name": experiment.name,
        "description": experiment.description,
        "tags": "base",
        "created_by": experiment.created_by_id or "",
        "dataset": experiment.dataset_id,
        "target_column": experiment.target_column,
        "feature_columns": '["sepal_length"]',
        "task_type": experiment.task_type,
        "algorithm": experiment.algorithm,
        "hyperparameters": "{}",
        "test_size": experiment.test_size,
        "random_state": experiment.random_state,
        "status": experiment.status,
        "stage": experiment.stage,
        "error": "",
        "queued_by": "",
        "plots": "null",
        "timings": "{}",
    }
    data.update(overrides)
    return data


def test_the_admin_normalises_tags_and_records_the_change(experiment, admin_client):
    version = _version(experiment)
    url = reverse("admin:experiments_mlexperiment_change", args=[experiment.pk])
    response = admin_client.post(
        url, _admin_change_data(experiment, tags="  nueva   etiqueta , base", name="Renombrado")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert _tags(experiment) == ["base", "nueva etiqueta"]
    assert _version(experiment) > version


def test_the_admin_refuses_a_comma_inside_a_tag(experiment, admin_client):
    version = _version(experiment)
    url = reverse("admin:experiments_mlexperiment_change", args=[experiment.pk])
    response = admin_client.post(url, _admin_change_data(experiment, tags='"a,b", base'))
    assert response.status_code == 200
    assert "Una etiqueta no puede contener comas" in response.content.decode()
    assert _tags(experiment) == ["base"]
    assert _version(experiment) == version


def test_renaming_a_tag_in_the_tag_admin_records_a_change_for_its_experiments(
    experiment, admin_client
):
    from taggit.models import Tag

    version = _version(experiment)
    tag = Tag.objects.get(name="base")
    url = reverse("admin:taggit_tag_change", args=[tag.pk])
    response = admin_client.post(url, {"name": "básica", "slug": "basica"})
    assert response.status_code == 302
    assert _tags(experiment) == ["básica"]
    assert _version(experiment) == version + 1
    response = admin_client.post(url, {"name": "con, coma", "slug": "basica"})
    assert response.status_code == 200
    assert _tags(experiment) == ["básica"]
