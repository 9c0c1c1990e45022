"""URLs read as the hierarchy: a project's lists under /projects/<id>/, objects on their own."""

import uuid

import pytest
from django.urls import reverse

EXPERIMENT = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("experiments:ml_experiment_list", {"project_pk": 7}, "/projects/7/experiments/"),
        ("experiments:ml_experiment_create", {"project_pk": 7}, "/projects/7/experiments/new/"),
        ("datasets:dataset_create", {"project_pk": 7}, "/projects/7/datasets/upload/"),
        ("artifacts:compare", {"project_pk": 7}, "/projects/7/artifacts/compare/"),
        ("experiments:ml_experiment_detail", {"pk": EXPERIMENT}, f"/experiments/{EXPERIMENT}/"),
        ("artifacts:tab", {"pk": EXPERIMENT}, f"/experiments/{EXPERIMENT}/artifacts/tab/"),
        ("datasets:dataset_detail", {"pk": 3}, "/datasets/3/"),
    ],
)
def test_it_builds_hierarchical_urls(name, kwargs, expected):
    assert reverse(name, kwargs=kwargs) == expected
