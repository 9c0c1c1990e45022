import pytest

from cauce.experiments.models import MLExperiment, TaggedExperiment
from cauce.experiments.selectors import (
    TAGS_ANY,
    ExperimentFilters,
    TagCount,
    experiment_filter_choices,
    experiment_list,
    experiment_list_for_user,
    experiment_tag_counts,
    experiment_tag_names,
    filter_tags_parse,
)
from cauce.experiments.tests.web_support import create_experiment, finish
from cauce.projects.models import Project

pytestmark = pytest.mark.django_db


def _make(project, dataset, user, count: int) -> None:
    for index in range(count):
        create_experiment(
            project=project, dataset=dataset, user=user, name=f"E{index}", tags=[f"t{index}", "all"]
        )


def _names(queryset) -> list[str]:
    return sorted(experiment.name for experiment in queryset)


@pytest.fixture
def tagged(media_root, project, iris_dataset, editor):
    """Five experiments: Alfa {a, b, x}, Beta {a}, Gamma {b, c}, Delta {}, Épsilon {A-case}."""
    specs = [
        ("Alfa", ["a", "b", "x"], "LogisticRegression", "Modelo base del equipo"),
        ("Beta", ["a"], "RandomForestClassifier", ""),
        ("Gamma", ["b", "c"], "LogisticRegression", "Prueba con bosque aleatorio"),
        ("Delta", [], "RandomForestClassifier", ""),
        ("Épsilon", ["Iris"], "LogisticRegression", ""),
    ]
    made = {}
    for name, tags, algorithm, description in specs:
        made[name] = create_experiment(
            project=project,
            dataset=iris_dataset,
            user=editor,
            name=name,
            tags=tags,
            algorithm=algorithm,
            description=description,
        )
    return made


def test_the_project_list_costs_the_same_queries_for_one_or_many(
    media_root, project, iris_dataset, editor, django_assert_num_queries
):
    _make(project, iris_dataset, editor, 1)
    with django_assert_num_queries(2):
        one = [
            (e.dataset.name, e.dataset_version.version, list(e.tags.all()))
            for e in experiment_list(project=project)
        ]
    assert one[0][1] == 1
    _make(project, iris_dataset, editor, 4)
    with django_assert_num_queries(2):
        rows = [
            (e.dataset.name, e.dataset_version.version, [t.name for t in e.tags.all()])
            for e in experiment_list(project=project)
        ]
    assert len(rows) == 5


def test_the_users_list_costs_the_same_queries_for_one_or_many(
    media_root, project, iris_dataset, editor, django_assert_num_queries
):
    _make(project, iris_dataset, editor, 5)
    with django_assert_num_queries(2):
        rows = [
            (
                e.project.name,
                e.created_by.username,
                e.dataset_version.version,
                [t.name for t in e.tags.all()],
            )
            for e in experiment_list_for_user(user=editor)
        ]
    assert len(rows) == 5


def test_an_experiments_tags_are_read_without_joining_content_types(project, tagged):
    """Each row of a list builds this queryset (also with the tags prefetched): kept cheap."""
    alfa = MLExperiment.objects.get(pk=tagged["Alfa"].pk)
    assert sorted(tag.name for tag in alfa.tags.all()) == ["a", "b", "x"]
    assert list(MLExperiment.objects.get(pk=tagged["Delta"].pk).tags.all()) == []
    assert "django_content_type" not in str(alfa.tags.all().query)
    # Every tag of a model (autocompletion, admin) still goes through taggit's own filter.
    assert "django_content_type" in str(TaggedExperiment.tags_for(MLExperiment).query)


def test_a_tag_filter_does_not_repeat_rows(media_root, project, iris_dataset, editor):
    _make(project, iris_dataset, editor, 3)
    filters = ExperimentFilters(tags=("all",))
    assert experiment_list(project=project, filters=filters).count() == 3
    one = ExperimentFilters(tags=("t1",))
    assert [e.name for e in experiment_list(project=project, filters=one)] == ["E1"]


def test_all_of_keeps_experiments_with_every_tag(project, tagged):
    filters = ExperimentFilters(tags=("a", "b"))
    assert _names(experiment_list(project=project, filters=filters)) == ["Alfa"]


def test_any_of_keeps_experiments_with_at_least_one_tag_once_each(project, tagged):
    filters = ExperimentFilters(tags=("a", "b"), tags_mode=TAGS_ANY)
    experiments = experiment_list(project=project, filters=filters)
    assert _names(experiments) == ["Alfa", "Beta", "Gamma"]
    assert experiments.count() == 3  # Alfa has both tags and is still one row


def test_tags_match_ignoring_case(project, tagged):
    filters = ExperimentFilters(tags=("IRIS",))
    assert _names(experiment_list(project=project, filters=filters)) == ["Épsilon"]


def test_an_unknown_tag_matches_nothing_in_either_mode(project, tagged):
    assert not experiment_list(project=project, filters=ExperimentFilters(tags=("a", "zz")))
    any_of = ExperimentFilters(tags=("a", "zz"), tags_mode=TAGS_ANY)
    assert _names(experiment_list(project=project, filters=any_of)) == ["Alfa", "Beta"]


def test_chip_counts_follow_the_current_filter(project, tagged):
    all_of = experiment_list(project=project, filters=ExperimentFilters(tags=("a", "b")))
    assert experiment_tag_counts(experiments=all_of, chosen=("a", "b")) == [
        TagCount("a", 1, chosen=True),
        TagCount("b", 1, chosen=True),
        TagCount("x", 1),
    ]
    any_of = experiment_list(
        project=project, filters=ExperimentFilters(tags=("a", "b"), tags_mode=TAGS_ANY)
    )
    assert experiment_tag_counts(experiments=any_of, chosen=("A",)) == [
        TagCount("a", 2, chosen=True),
        TagCount("b", 2),
        TagCount("c", 1),
        TagCount("x", 1),
    ]
    unfiltered = experiment_list(project=project)
    counts = {chip.name: chip.count for chip in experiment_tag_counts(experiments=unfiltered)}
    assert counts == {"a": 2, "b": 2, "c": 1, "x": 1, "Iris": 1}


def test_chip_counts_are_one_query(project, tagged, django_assert_num_queries):
    experiments = experiment_list(project=project, filters=ExperimentFilters(tags=("a",)))
    with django_assert_num_queries(1):
        experiment_tag_counts(experiments=experiments)


def test_filters_combine_with_status_algorithm_dataset_and_text(
    project, tagged, messy_dataset, editor
):
    finish(tagged["Alfa"])
    other_dataset = create_experiment(
        project=project,
        dataset=messy_dataset,
        user=editor,
        name="Alfa en otro conjunto",
        target_column="label",
        tags=["a", "b"],
    )

    def names(**filters):
        return _names(experiment_list(project=project, filters=ExperimentFilters(**filters)))

    assert names(tags=("a", "b")) == ["Alfa", "Alfa en otro conjunto"]
    assert names(tags=("a", "b"), status=MLExperiment.Status.FINISHED) == ["Alfa"]
    assert names(tags=("a", "b"), dataset_id=other_dataset.dataset_id) == ["Alfa en otro conjunto"]
    assert names(tags=("a",), tags_mode=TAGS_ANY, algorithm="RandomForestClassifier") == ["Beta"]
    assert names(tags=("b",), q="bosque") == ["Gamma"]
    assert names(status=MLExperiment.Status.FINISHED, algorithm="RandomForestClassifier") == []


def test_text_search_needs_every_word_in_the_name_or_the_description(project, tagged):
    def names(q):
        return _names(experiment_list(project=project, filters=ExperimentFilters(q=q)))

    assert names("ALFA") == ["Alfa"]  # any case
    assert names("equipo base") == ["Alfa"]  # words in any order, from the description
    assert names("modelo gamma") == []  # one word in Alfa, the other in Gamma's name
    assert names("épsilon") == ["Épsilon"]
    assert names("100%") == []  # LIKE wildcards are searched as text


def test_the_users_list_never_shows_an_outsiders_experiments(
    project, tagged, other_project, make_dataset, iris_csv_bytes, outsider, editor
):
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(
        project=other_project, dataset=foreign, user=outsider, name="Ajeno", tags=["a"]
    )
    mine = experiment_list_for_user(user=editor, filters=ExperimentFilters(tags=("a",)))
    assert _names(mine) == ["Alfa", "Beta"]
    # Asking for the other project by id finds nothing rather than its experiments.
    asked = ExperimentFilters(project_id=other_project.pk)
    assert not experiment_list_for_user(user=editor, filters=asked)
    assert _names(experiment_list_for_user(user=outsider)) == ["Ajeno"]


def test_the_users_list_spans_the_users_projects(
    project, tagged, other_project, make_dataset, iris_csv_bytes, outsider, editor
):
    from cauce.projects.models import Membership, Role

    Membership.objects.create(project=other_project, user=editor, role=Role.VIEWER)
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(
        project=other_project, dataset=foreign, user=outsider, name="Otro", tags=["c"]
    )
    filters = ExperimentFilters(tags=("c",))
    assert _names(experiment_list_for_user(user=editor, filters=filters)) == ["Gamma", "Otro"]
    only_other = ExperimentFilters(tags=("c",), project_id=other_project.pk)
    assert _names(experiment_list_for_user(user=editor, filters=only_other)) == ["Otro"]


def test_tag_names_are_the_projects_own(
    media_root, project, iris_dataset, editor, other_project, make_dataset, iris_csv_bytes, outsider
):
    _make(project, iris_dataset, editor, 2)
    foreign = make_dataset(other_project, iris_csv_bytes, user=outsider)
    create_experiment(project=other_project, dataset=foreign, user=outsider, tags=["secreto"])
    assert experiment_tag_names(projects=project) == ["all", "t0", "t1"]
    both = Project.objects.filter(pk__in=[project.pk, other_project.pk])
    assert experiment_tag_names(projects=both) == ["all", "secreto", "t0", "t1"]


def test_filter_choices_come_from_the_projects_experiments(project, tagged, iris_dataset):
    choices = experiment_filter_choices(projects=Project.objects.filter(pk=project.pk))
    assert choices.datasets == [iris_dataset]
    assert choices.tag_names == ["a", "b", "c", "Iris", "x"]


def test_filter_tags_parse_reads_commas_and_repeats_once_each():
    assert filter_tags_parse(["a, b", " c ", "B", "", "a,,d"]) == ("a", "b", "c", "d")
    with pytest.raises(ValueError):
        filter_tags_parse([",".join(f"t{index}" for index in range(21))])


def test_the_filter_round_trips_through_its_query_string():
    filters = ExperimentFilters(tags=("a b", "c&d"), tags_mode=TAGS_ANY, status="FINISHED", q="x")
    assert filters.query() == "q=x&tags=a+b%2Cc%26d&tags_mode=any&status=FINISHED"
    assert filters.with_tag("e") == "q=x&tags=a+b%2Cc%26d%2Ce&tags_mode=any&status=FINISHED"
    assert filters.with_tag("A B") == filters.query()  # already chosen, in another case
    assert filters.without_tag("a b") == "q=x&tags=c%26d&tags_mode=any&status=FINISHED"
    assert not ExperimentFilters().active
    assert ExperimentFilters(q="x").active
