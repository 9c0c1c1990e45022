"""Hostile uploads: refused with a clear Spanish message, and nothing is stored."""

import gzip
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cauce.datasets.models import Dataset
from cauce.datasets.tests.conftest import stored_files
from cauce.datasets.tests.test_views import post_file

pytestmark = pytest.mark.django_db


TOO_WIDE = "El archivo tiene más columnas de las permitidas (2000 como máximo)."


def assert_refused(response, media_root, message: str) -> None:
    assert response.status_code == 200  # the form again, with the message
    assert message in response.content.decode()
    assert Dataset.objects.count() == 0
    assert stored_files(media_root) == []


def wide_csv(columns: int, width: int = 1) -> bytes:
    names = [f"c{index:0{width}d}" for index in range(columns)]
    return (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()


@pytest.mark.parametrize("width", [1, 12], ids=["short-names", "header-longer-than-64kb"])
def test_ten_thousand_columns_are_refused(editor_client, project, media_root, width):
    content = wide_csv(10_000, width)
    response = post_file(editor_client, project, content, "ancho.csv")
    assert_refused(response, media_root, TOO_WIDE)


def test_ten_thousand_parquet_columns_are_refused(editor_client, project, media_root):
    table = pa.table({f"c{index}": [1] for index in range(10_000)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = post_file(editor_client, project, buffer.getvalue(), "ancho.parquet")
    assert_refused(response, media_root, TOO_WIDE)


def test_a_parquet_compression_bomb_is_refused_before_it_is_read(
    editor_client, project, media_root, settings
):
    settings.DATASET_MAX_EXPANDED_MB = 10
    zeros = pa.array([0] * 3_000_000, pa.int8())
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": zeros, "b": zeros}), buffer, compression="zstd")
    bomb = buffer.getvalue()
    assert len(bomb) < 100_000  # 6 million values in a few kilobytes
    response = post_file(editor_client, project, bomb, "bomba.parquet")
    assert_refused(
        response,
        media_root,
        "El archivo Parquet ocupa unos 45 MB sin comprimir; el límite es 10 MB.",
    )


def test_a_gzip_bomb_is_refused_unopened(editor_client, project, media_root):
    bomb = gzip.compress(b"0," * 10_000_000, compresslevel=9)
    assert len(bomb) < 100_000  # 20 MB in a few kilobytes
    response = post_file(editor_client, project, bomb, "bomba.csv.gz")
    assert_refused(
        response,
        media_root,
        "El archivo no es CSV ni Parquet (parece GZIP). Suba un archivo .csv o .parquet.",
    )


def test_binary_garbage_is_refused(editor_client, project, media_root):
    garbage = b"a," + random.Random(8).randbytes(200_000)
    response = post_file(editor_client, project, garbage, "basura.csv")
    assert_refused(
        response,
        media_root,
        "El archivo no es CSV ni Parquet: contiene datos binarios. Suba un .csv o .parquet.",
    )
