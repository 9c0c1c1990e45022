import io
import json

import pandas as pd
import pyarrow as pa
import pytest

from cauce.core.exceptions import ApplicationError
from cauce.datasets.inference import load_dataframe, profile_file, sniff_delimiter
from cauce.datasets.tests.samples import BAD_FILE_IDS, BAD_FILES, parquet_bytes


def profile(content: bytes, **kwargs):
    return profile_file(io.BytesIO(content), **kwargs)


def by_name(result) -> dict:
    return {column.name: column for column in result.columns}


def test_it_profiles_iris(iris_csv_bytes, settings):
    result = profile(iris_csv_bytes)

    assert result.file_format == "csv"
    assert result.encoding == "utf-8"
    assert result.delimiter == ","
    assert result.row_count == 150
    columns = by_name(result)
    assert list(columns) == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "species",
    ]
    assert columns["sepal_length"].dtype == "float64"
    assert columns["sepal_length"].kind == "numeric"
    assert columns["species"].kind == "categorical"
    assert columns["species"].unique == 3
    assert all(column.missing == 0 for column in result.columns)
    assert len(result.preview["rows"]) == settings.DATASET_PREVIEW_ROWS
    assert result.preview["columns"] == list(columns)
    assert result.preview["rows"][0] == [5.1, 3.5, 1.4, 0.2, "setosa"]


def test_it_counts_missing_values_and_infers_kinds(messy_csv_bytes):
    result = profile(messy_csv_bytes)

    columns = by_name(result)
    assert result.row_count == 200
    assert {name: column.missing for name, column in columns.items()} == {
        "age": 20,
        "income": 30,
        "city": 20,
        "member": 10,
        "label": 0,
        "price": 0,
    }
    assert {name: column.kind for name, column in columns.items()} == {
        "age": "numeric",
        "income": "numeric",
        "city": "categorical",
        "member": "boolean",
        "label": "categorical",
        "price": "numeric",
    }
    assert columns["age"].dtype == "float64"
    assert columns["price"].dtype == "float64"
    assert columns["city"].unique == 4
    assert columns["label"].unique == 2


def test_its_preview_is_json_safe(messy_csv_bytes, settings):
    settings.DATASET_PREVIEW_ROWS = 200
    result = profile(messy_csv_bytes)

    # allow_nan=False fails on NaN/inf; the default encoder fails on numpy scalars.
    encoded = json.dumps({"preview": result.preview, "schema": result.schema}, allow_nan=False)
    rows = json.loads(encoded)["preview"]["rows"]
    assert len(rows) == 200
    values = [value for row in rows for value in row]
    assert None in values
    assert {type(value) for value in values} <= {float, int, str, bool, type(None)}


def test_it_turns_infinities_and_timestamps_into_json_values():
    table = pa.table(
        {
            "when": pa.array([pd.Timestamp("2024-01-02 03:04:05"), None]),
            "value": [float("inf"), 1.5],
        }
    )
    result = profile(parquet_bytes(table))

    assert result.preview["rows"] == [["2024-01-02T03:04:05", None], [None, 1.5]]
    assert by_name(result)["when"].kind == "datetime"


def test_it_recognises_text_dates_and_free_text():
    rows = "\n".join(
        f"2024-01-{day:02d},comentario número {day},{day % 2 == 0}" for day in range(1, 29)
    )
    result = profile(f"fecha,nota,par\n{rows}\n".encode())

    kinds = {column.name: column.kind for column in result.columns}
    assert kinds == {"fecha": "datetime", "nota": "text", "par": "boolean"}
    assert by_name(result)["par"].dtype == "bool"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_sniffs_the_delimiter(delimiter):
    other = ";" if delimiter == "," else ","
    lines = [
        delimiter.join(["id", "texto", "valor"]),
        delimiter.join(["1", f'"con {other} dentro"', "2.5"]),
        delimiter.join(["2", "sin nada", "3.5"]),
    ]
    result = profile(("\n".join(lines) + "\n").encode())

    assert result.delimiter == delimiter
    assert [column.name for column in result.columns] == ["id", "texto", "valor"]
    assert result.preview["rows"][0] == [1, f"con {other} dentro", 2.5]


def test_it_prefers_the_delimiter_that_splits_the_header_consistently():
    # Decimal commas inside a semicolon file must not make it look comma-separated.
    assert sniff_delimiter("a;b;c\n1,5;2,5;x\n3,0;4,0;y\n") == ";"


def test_it_reads_utf8_with_a_bom():
    result = profile("\ufeffnombre,año\nÁlvaro,1990\n".encode())

    assert result.encoding == "utf-8-sig"
    assert [column.name for column in result.columns] == ["nombre", "año"]
    assert result.preview["rows"] == [["Álvaro", 1990]]


def test_it_reads_latin1_accents():
    # Bytes 0x81 and 0x8d exist in latin-1 but not in cp1252.
    content = "ciudad;código\nMálaga;\x81\x8d\nCórdoba;ñu\n".encode("latin-1")
    result = profile(content)

    assert result.encoding == "latin-1"
    assert result.delimiter == ";"
    assert [column.name for column in result.columns] == ["ciudad", "código"]
    assert result.preview["rows"][0][0] == "Málaga"
    assert result.preview["rows"][1] == ["Córdoba", "ñu"]


def test_it_reads_windows_cp1252_accents():
    content = "producto;precio\n“Café” año;5 €\nPequeño;3 €\n".encode("cp1252")
    result = profile(content)

    assert result.encoding == "cp1252"
    assert result.preview["rows"] == [["“Café” año", "5 €"], ["Pequeño", "3 €"]]


def test_it_reads_parquet_by_its_magic_bytes_whatever_the_name(tmp_path, messy_csv_bytes):
    frame = pd.read_csv(io.BytesIO(messy_csv_bytes))
    path = tmp_path / "misnamed.csv"
    path.write_bytes(parquet_bytes(pa.Table.from_pandas(frame, preserve_index=False)))

    result = profile_file(path)

    assert result.file_format == "parquet"
    assert result.encoding == ""
    assert result.delimiter == ""
    assert result.row_count == 200
    columns = by_name(result)
    assert columns["income"].missing == 30
    assert columns["price"].kind == "numeric"
    assert columns["city"].kind == "categorical"


def test_it_reads_from_a_path_and_leaves_a_file_object_rewound(tmp_path, iris_csv_bytes):
    path = tmp_path / "iris.csv"
    path.write_bytes(iris_csv_bytes)
    handle = io.BytesIO(iris_csv_bytes)

    assert profile_file(path).row_count == profile_file(handle).row_count == 150
    assert handle.tell() == 0
    assert not handle.closed


def test_load_dataframe_reads_a_csv_with_its_stored_parsing_options(tmp_path):
    content = "ciudad;precio;nota\nMálaga;1,5;x\nCórdoba;2,5;y\n".encode("cp1252")
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    result = profile_file(path)

    frame = load_dataframe(
        path,
        file_format=result.file_format,
        encoding=result.encoding,
        delimiter=result.delimiter,
        columns=["nota", "ciudad"],
    )

    assert list(frame.columns) == ["nota", "ciudad"]
    assert frame["ciudad"].tolist() == ["Málaga", "Córdoba"]


def test_load_dataframe_reads_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(parquet_bytes(pa.table({"x": [1, 2], "y": ["a", "b"], "z": [0.5, 1.5]})))

    frame = load_dataframe(path, file_format="parquet", columns=["z", "x"])

    assert list(frame.columns) == ["z", "x"]
    assert frame["x"].tolist() == [1, 2]


def test_load_dataframe_names_missing_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")

    with pytest.raises(ApplicationError, match="no tiene las columnas: c"):
        load_dataframe(path, file_format="csv", encoding="utf-8", delimiter=",", columns=["c"])


@pytest.mark.parametrize(("case", "filename", "content", "message"), BAD_FILES, ids=BAD_FILE_IDS)
def test_it_rejects_bad_files_with_a_spanish_message(case, filename, content, message):
    with pytest.raises(ApplicationError) as raised:
        profile(content)

    assert str(raised.value).startswith(message)


def _cars_csv(rows: int = 60) -> bytes:
    lines = ["row,car,price,engine_cc,colour,year,seats"]
    for index in range(1, rows + 1):
        lines.append(
            f"{index},Modelo {index * 7} GT,{index * 1234.5 + 0.25},{1000 + (index * 37) % 900},"
            f"{'rojo' if index % 2 else 'azul'},{2000 + index % 9},{4 if index % 3 else 5}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_it_flags_identifier_like_columns_and_leaves_measurements_alone():
    columns = by_name(profile(_cars_csv()))
    # Text with every value different: a name or an identifier.
    assert columns["car"].id_like == "distinct_text"
    # Integers, unique and each one more than the previous: a row number.
    assert columns["row"].id_like == "row_number"
    # All different too, but measurements: they stay features.
    assert columns["price"].id_like == ""
    assert columns["engine_cc"].unique == 60
    assert columns["engine_cc"].id_like == ""  # unique integers, not consecutive
    assert columns["colour"].id_like == ""
    assert columns["year"].id_like == ""
    assert profile(_cars_csv()).schema[1]["id_like"] == "distinct_text"


def test_a_text_column_with_a_few_repeats_is_still_identifier_like_but_not_categories():
    names = [f"cliente {index}" for index in range(95)] + ["cliente 1"] * 5
    csv = "name,value\n" + "".join(f"{name},{index}.5\n" for index, name in enumerate(names))
    columns = by_name(profile(csv.encode()))
    assert columns["name"].unique == 95
    assert columns["name"].id_like == "distinct_text"  # 95 of 100: almost all distinct
    shuffled = "id,value\n" + "".join(f"{index},{index}.5\n" for index in (3, 1, 2, 5, 4))
    assert by_name(profile(shuffled.encode()))["id"].id_like == ""  # unique, not in order
