"""Datasets through the default storage, the data dir's or an S3 bucket's: stored, read for the
schema, the task type and training, downloaded and deleted by name, never opened by path."""

import tracemalloc

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from cauce.datasets.models import Dataset
from cauce.datasets.selectors import dataset_dataframe
from cauce.datasets.services import dataset_delete, dataset_schema_complete
from cauce.datasets.tests.conftest import stored_files
from cauce.experiments.services import _task_type_infer_for

pytestmark = pytest.mark.django_db


def test_a_dataset_is_stored_read_and_deleted_through_the_storage(
    any_storage,
    make_dataset,
    project,
    iris_csv_bytes,
    media_root,
    django_capture_on_commit_callbacks,
):
    dataset = make_dataset(project, iris_csv_bytes, "iris.csv", name="Iris")

    with default_storage.open(dataset.file.name, "rb") as handle:
        assert handle.read() == iris_csv_bytes
    assert bool(stored_files(media_root)) == (any_storage == "filesystem")
    frame = dataset_dataframe(dataset=Dataset.objects.get(), columns=["species"])
    assert frame["species"].nunique() == 3
    species = next(column for column in dataset.schema if column["name"] == "species")
    assert _task_type_infer_for(dataset=dataset, column=species) == "classification"

    with django_capture_on_commit_callbacks(execute=True):
        dataset_delete(dataset=dataset)

    assert not default_storage.exists(dataset.file.name)
    assert stored_files(media_root) == []


def test_the_schema_is_completed_from_the_stored_file(any_storage, make_dataset, project):
    dataset = make_dataset(project, b"n,x\n" + b"".join(b"%d,%d\n" % (i, i % 3) for i in range(50)))
    for column in dataset.schema:
        column.pop("id_like", None)
    Dataset.objects.filter(pk=dataset.pk).update(schema=dataset.schema)

    completed = dataset_schema_complete(dataset=Dataset.objects.get())

    assert completed.schema[0]["id_like"] == "row_number"


def test_the_download_streams_the_stored_file(any_storage, make_dataset, project, owner_client):
    content = b"a,b\n1,2\n3,4\n"
    dataset = make_dataset(project, content, "ventas.csv")

    response = owner_client.get(f"/datasets/{dataset.pk}/download/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content


# A wide file, and one narrow column read from it: what stays in memory is that column.
LARGE_ROWS = 200_000
LARGE_COLUMNS = 20


def _large_csv() -> bytes:
    header = ",".join(f"c{n}" for n in range(LARGE_COLUMNS)) + "\n"
    row = ",".join(["123456.789"] * (LARGE_COLUMNS - 1))
    return (header + "".join(f"{i % 7},{row}\n" for i in range(LARGE_ROWS))).encode()


def test_a_large_dataset_is_read_from_s3_without_holding_the_file_in_memory(s3_storage, project):
    content = _large_csv()
    name = default_storage.save(f"datasets/{project.pk}/grande.csv", ContentFile(content))
    dataset = Dataset.objects.create(
        project=project,
        name="Grande",
        file=name,
        original_filename="grande.csv",
        file_format="csv",
        encoding="utf-8",
        delimiter=",",
        size_bytes=len(content),
        row_count=LARGE_ROWS,
        column_count=LARGE_COLUMNS,
    )
    del content

    tracemalloc.start()
    try:
        frame = dataset_dataframe(dataset=dataset, columns=["c0"])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(frame) == LARGE_ROWS
    size = dataset.size_bytes
    print(f"peak {peak / 1e6:.1f} MB reading one column of a {size / 1e6:.1f} MB CSV from S3")
    # Held whole, the file alone would be more than the bound (55 MB measured for 42 MB).
    assert peak < size / 4
