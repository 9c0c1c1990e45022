"""The project page lists its datasets and experiments without a query per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cauce.datasets.models import Dataset
from cauce.experiments.models import MLExperiment

pytestmark = pytest.mark.django_db


def _dataset(project, name="iris.csv") -> Dataset:
    return Dataset.objects.create(
        project=project,
        name=name,
        file="datasets/iris.csv",
        original_filename="iris.csv",
        file_format=Dataset.Format.CSV,
        size_bytes=10,
        row_count=150,
        column_count=5,
    )


def _experiment(project, dataset, name: str, tags=("rf", "baseline")) -> MLExperiment:
    experiment = MLExperiment.objects.create(
        project=project,
        dataset=dataset,
        name=name,
        target_column="species",
        task_type=MLExperiment.TaskType.CLASSIFICATION,
        algorithm="random_forest",
    )
    experiment.tags.add(*tags)
    return experiment


def test_detail_lists_the_projects_datasets_only(viewer_client, project, other_project):
    _dataset(project, "Flores")
    _dataset(other_project, "Secreto")
    body = viewer_client.get(reverse("projects:project_detail", args=[project.pk])).content
    assert "Flores" in body.decode()
    assert "Secreto" not in body.decode()


def test_an_editor_sees_the_upload_link(editor_client, project):
    upload_url = reverse("datasets:dataset_create", args=[project.pk])
    body = editor_client.get(reverse("projects:project_detail", args=[project.pk])).content
    assert "Subir conjunto de datos" in body.decode()
    assert f'href="{upload_url}"' in body.decode()


def test_a_viewer_does_not_see_the_upload_link(viewer_client, project):
    body = viewer_client.get(reverse("projects:project_detail", args=[project.pk])).content
    assert "Subir conjunto de datos" not in body.decode()
    assert reverse("datasets:dataset_create", args=[project.pk]) not in body.decode()


def test_experiment_links_follow_the_users_role(editor_client, viewer, project):
    create_url = reverse("experiments:ml_experiment_create", args=[project.pk])
    list_url = reverse("experiments:ml_experiment_list", args=[project.pk])
    detail_url = reverse("projects:project_detail", args=[project.pk])

    body = editor_client.get(detail_url).content.decode()
    assert f'href="{create_url}"' in body
    assert "Nuevo experimento" in body
    assert f'href="{list_url}"' in body

    editor_client.force_login(viewer)
    body = editor_client.get(detail_url).content.decode()
    assert create_url not in body
    assert "Nuevo experimento" not in body
    assert f'href="{list_url}"' in body


def test_detail_lists_experiments_with_their_tags_in_constant_queries(owner_client, project):
    dataset = _dataset(project)
    _dataset(project, "otro.csv")
    _experiment(project, dataset, "Primero")
    url = reverse("projects:project_detail", args=[project.pk])
    with CaptureQueriesContext(connection) as one:
        owner_client.get(url)
    for n in range(4):
        _experiment(project, dataset, f"Más {n}", tags=(f"t{n}", "rf"))
    _dataset(project, "tercero.csv")
    with CaptureQueriesContext(connection) as five:
        response = owner_client.get(url)
    body = response.content.decode()
    assert len(five) == len(one)
    assert "Primero" in body and "Más 3" in body
    assert '<span class="tag">t3</span>' in body


def test_the_list_counts_each_projects_datasets_and_experiments(owner_client, owner_api, project):
    dataset = _dataset(project)
    _dataset(project, "otro.csv")
    for n in range(3):
        _experiment(project, dataset, f"E{n}")
    listed = owner_client.get(reverse("projects:project_list")).context["projects"][0]
    assert (listed.dataset_count, listed.experiment_count) == (2, 3)
    [item] = owner_api.get("/api/projects/").json()["results"]
    assert (item["dataset_count"], item["experiment_count"]) == (2, 3)
