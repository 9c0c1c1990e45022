import io

import pytest
from django.db import IntegrityError

from cauce.core.exceptions import ApplicationError
from cauce.datasets.models import Dataset
from cauce.datasets.selectors import dataset_dataframe
from cauce.datasets.services import dataset_delete
from cauce.datasets.tests.conftest import stored_files
from cauce.datasets.tests.samples import GOOD_PARQUET
from cauce.experiments.models import MLExperiment

pytestmark = pytest.mark.django_db


def make_experiment(dataset: Dataset) -> MLExperiment:
    return MLExperiment.objects.create(
        project=dataset.project,
        dataset=dataset,
        name="Bosque",
        target_column="species",
        task_type=MLExperiment.TaskType.CLASSIFICATION,
        algorithm="random_forest",
    )


def test_it_stores_the_file_and_the_profile(iris_dataset, iris_csv_bytes, media_root, editor):
    dataset = Dataset.objects.get()

    assert dataset == iris_dataset
    assert dataset.name == "Iris"
    assert dataset.original_filename == "iris.csv"
    assert dataset.file_format == "csv"
    assert dataset.size_bytes == len(iris_csv_bytes)
    assert (dataset.row_count, dataset.column_count) == (150, 5)
    assert dataset.column_names[-1] == "species"
    assert dataset.preview["rows"][0][-1] == "setosa"
    assert dataset.file.name.startswith(f"datasets/{dataset.project_id}/")
    assert [path.read_bytes() for path in stored_files(media_root)] == [iris_csv_bytes]


def test_it_stores_each_columns_statistics_at_upload(iris_dataset):
    statistics = Dataset.objects.get().statistics
    assert statistics["petal_length"]["min"] == 1.0
    assert statistics["petal_length"]["max"] == 6.9
    assert statistics["petal_length"]["mean"] == pytest.approx(3.758, abs=1e-3)
    assert statistics["petal_length"]["std"] == pytest.approx(1.7653, abs=1e-4)
    assert statistics["species"]["distinct"] == 3


def test_the_command_computes_the_statistics_of_older_datasets(iris_dataset, make_dataset):
    from django.core.management import call_command

    expected = iris_dataset.statistics
    Dataset.objects.update(statistics={})
    gone = make_dataset(iris_dataset.project, b"a,b\n1,2\n")
    Dataset.objects.filter(pk=gone.pk).update(statistics={})
    gone.file.storage.delete(gone.file.name)  # its file is lost: it keeps none
    output = io.StringIO()
    call_command("dataset_statistics", stdout=output)
    assert "1 dataset(s) updated, 1 unreadable." in output.getvalue()
    iris_dataset.refresh_from_db()
    assert iris_dataset.statistics == expected
    assert Dataset.objects.get(pk=gone.pk).statistics == {}


def test_it_names_the_dataset_after_the_file_when_the_name_is_blank(make_dataset, project):
    dataset = make_dataset(project, b"a,b\n1,2\n", "ventas 2024.csv", name="   ")

    assert dataset.name == "ventas 2024"


def test_it_stores_parquet_with_its_own_suffix_whatever_the_upload_name(make_dataset, project):
    dataset = make_dataset(project, GOOD_PARQUET, "export.csv")

    assert dataset.file_format == "parquet"
    assert dataset.file.name.endswith(".parquet")
    assert dataset.original_filename == "export.csv"


def test_it_removes_the_stored_file_when_the_row_cannot_be_saved(
    make_dataset, project, media_root, monkeypatch
):
    def fail(*args, **kwargs):
        raise IntegrityError("simulated failure after the file was written")

    monkeypatch.setattr(Dataset, "save", fail)

    with pytest.raises(IntegrityError):
        make_dataset(project, b"a,b\n1,2\n")

    assert stored_files(media_root) == []


def test_it_refuses_to_delete_a_dataset_that_experiments_use(iris_dataset, editor, media_root):
    make_experiment(iris_dataset)

    with pytest.raises(ApplicationError, match="lo usa 1 experimento"):
        dataset_delete(dataset=iris_dataset, user=editor)

    assert Dataset.objects.filter(pk=iris_dataset.pk).exists()
    assert len(stored_files(media_root)) == 1


def test_it_deletes_the_row_and_then_the_file(
    iris_dataset, editor, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dataset_delete(dataset=iris_dataset, user=editor)

    assert not Dataset.objects.exists()
    assert stored_files(media_root) == []


def test_a_stored_dataset_loads_as_a_dataframe(make_dataset, project):
    content = "ciudad;precio;nota\nMálaga;1,5;x\nCórdoba;;y\n".encode("cp1252")
    dataset = make_dataset(project, content)

    frame = dataset_dataframe(dataset=dataset, columns=["precio", "ciudad"])

    assert list(frame.columns) == ["precio", "ciudad"]
    assert frame["ciudad"].tolist() == ["Málaga", "Córdoba"]
    assert frame["precio"].isna().tolist() == [False, True]


def test_a_schema_stored_before_identifier_detection_is_completed_once(
    make_dataset, project, django_assert_num_queries
):
    from cauce.datasets.services import dataset_schema_complete

    lines = ["id,name,score,label"] + [
        f"{index},persona {index},{index * 0.7 + 0.1},{'a' if index % 2 else 'b'}"
        for index in range(1, 41)
    ]
    dataset = make_dataset(project, ("\n".join(lines) + "\n").encode(), "people.csv")
    legacy = [{k: v for k, v in column.items() if k != "id_like"} for column in dataset.schema]
    Dataset.objects.filter(pk=dataset.pk).update(schema=legacy)
    dataset.refresh_from_db()

    dataset_schema_complete(dataset=dataset)

    stored = {column["name"]: column["id_like"] for column in Dataset.objects.get().schema}
    assert stored == {"id": "row_number", "name": "distinct_text", "score": "", "label": ""}
    completed = Dataset.objects.get()
    with django_assert_num_queries(0):  # complete now: nothing read, nothing written
        dataset_schema_complete(dataset=completed)
