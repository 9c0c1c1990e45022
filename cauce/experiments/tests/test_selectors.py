import pytest

from cauce.experiments.selectors import (
    experiment_list,
    experiment_list_for_user,
    experiment_tag_names,
)
from cauce.experiments.tests.web_support import create_experiment

pytestmark = pytest.mark.django_db


def _make(project, dataset, user, count: int) -> None:
    for index in range(count):
        create_experiment(
            project=project, dataset=dataset, user=user, name=f"E{index}", tags=[f"t{index}", "all"]
        )


def test_the_project_list_costs_the_same_queries_for_one_or_many(
    media_root, project, iris_dataset, editor, django_assert_num_queries
):
    _make(project, iris_dataset, editor, 1)
    with django_assert_num_queries(2):
        one = [(e.dataset.name, list(e.tags.all())) for e in experiment_list(project=project)]
    assert len(one) == 1
    _make(project, iris_dataset, editor, 4)
    with django_assert_num_queries(2):
        rows = [
            (e.dataset.name, [t.name for t in e.tags.all()])
            for e in experiment_list(project=project)
        ]
    assert len(rows) == 5


def test_the_users_list_costs_the_same_queries_for_one_or_many(
    media_root, project, iris_dataset, editor, django_assert_num_queries
):
    _make(project, iris_dataset, editor, 5)
    with django_assert_num_queries(2):
        rows = [
            (e.project.name, e.created_by.username, [t.name for t in e.tags.all()])
            for e in experiment_list_for_user(user=editor)
        ]
    assert len(rows) == 5


def test_the_tag_filter_does_not_repeat_rows(media_root, project, iris_dataset, editor):
    _make(project, iris_dataset, editor, 3)
    assert experiment_list(project=project, tag="all").count() == 3
    assert [e.name for e in experiment_list(project=project, tag="t1")] == ["E1"]


def test_tag_names_are_the_projects_own(
    media_root, project, iris_dataset, editor, other_project, make_dataset, iris_csv_bytes, outsider
):
    _make(project, iris_dataset, editor, 2)
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(project=other_project, dataset=foreign, user=outsider, tags=["secreto"])
    assert experiment_tag_names(project=project) == ["all", "t0", "t1"]


def test_the_users_list_excludes_other_projects(
    media_root, project, iris_dataset, editor, other_project, make_dataset, iris_csv_bytes, outsider
):
    _make(project, iris_dataset, editor, 1)
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(project=other_project, dataset=foreign, user=outsider, name="Ajeno")
    assert [e.name for e in experiment_list_for_user(user=editor)] == ["E0"]
    assert [e.name for e in experiment_list_for_user(user=outsider)] == ["Ajeno"]
