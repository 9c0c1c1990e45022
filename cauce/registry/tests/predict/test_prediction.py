"""Parsing scoring-server bodies, checking rows against a signature, writing results."""

import gc
import io

import numpy as np
import pandas as pd
import pytest

from cauce.core.csv import csv_write
from cauce.core.exceptions import ApplicationError
from cauce.datasets.inference import text_table_chunks, text_table_open
from cauce.integrations.mlflow.serving import InputColumn, PredictionOutput
from cauce.registry.predict import frames

IRIS = (
    InputColumn("sepal_length", "double", True),
    InputColumn("sepal_width", "double", True),
    InputColumn("petal_length", "double", True),
    InputColumn("petal_width", "double", True),
)
MIXED = (
    InputColumn("age", "double", False),
    InputColumn("rooms", "long", True),
    InputColumn("city", "string", False),
    InputColumn("member", "boolean", False),
)
NAMES = [column.name for column in IRIS]
ROW = [5.1, 3.5, 1.4, 0.2]


def _records(rows):
    return [dict(zip(NAMES, row, strict=True)) for row in rows]


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": NAMES, "data": [ROW, ROW]}},
        {"dataframe_split": {"index": [7, 8], "columns": NAMES, "data": [ROW, ROW]}},
        {"dataframe_records": _records([ROW, ROW])},
        {"inputs": _records([ROW, ROW])},
        {"instances": _records([ROW, ROW])},
        {"inputs": {name: [value, value] for name, value in zip(NAMES, ROW, strict=True)}},
        {"inputs": [ROW, ROW]},
        {"instances": [ROW, ROW], "params": {"ignored": 1}},
    ],
    ids=["split", "split-index", "records", "inputs-records", "instances", "inputs-columns",
         "inputs-lists", "instances-params"],
)  # fmt: skip
def test_it_reads_every_scoring_server_format_into_the_same_rows(body):
    frame = frames.parse_scoring_body(body, columns=NAMES)
    checked = frames.input_check(frame, inputs=IRIS)

    assert list(checked.frame.columns) == NAMES
    assert checked.frame.to_numpy().tolist() == [ROW, ROW]
    assert list(checked.frame.dtypes) == ["float64"] * 4
    assert checked.notes == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([ROW], "no una lista"),
        ("text", "objeto JSON"),
        ({"rows": []}, "tiene: ninguna"),
        ({"inputs": [], "instances": []}, "tiene: inputs, instances"),
        ({"dataframe_split": [ROW]}, '"dataframe_split" debe ser un objeto'),
        ({"dataframe_split": {"columns": NAMES, "data": [ROW[:3]]}}, "fila 1 de dataframe_split"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "repetidos: a"),
        ({"dataframe_records": {"a": 1}}, '"dataframe_records" debe ser una lista'),
        ({"dataframe_records": [{"a": 1}, 3]}, "La fila 2 de dataframe_records"),
        ({"inputs": [ROW, ROW[:2]]}, "La fila 2 de inputs tiene 2 valores"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "mismo número de valores"),
        ({"inputs": [ROW, {"a": 1}]}, "todas objetos o todas listas"),
    ],
)  # fmt: skip
def test_it_refuses_a_malformed_body_with_a_clear_message(body, message):
    with pytest.raises(ApplicationError) as error:
        frames.parse_scoring_body(body, columns=NAMES)

    assert message in str(error.value)


def test_positional_rows_need_a_signature_with_names():
    with pytest.raises(ApplicationError) as error:
        frames.parse_scoring_body({"inputs": [ROW]}, columns=None)

    assert "Use dataframe_split o dataframe_records" in str(error.value)


def test_pasted_json_may_be_a_list_of_rows_a_single_row_or_a_scoring_body():
    one = frames.parse_pasted_json('{"sepal_length": 1, "sepal_width": 2}')
    many = frames.parse_pasted_json('[{"sepal_length": 1}, {"sepal_length": 3}]')
    body = frames.parse_pasted_json('{"dataframe_split": {"columns": ["a"], "data": [[1]]}}')

    assert one.to_dict("records") == [{"sepal_length": 1, "sepal_width": 2}]
    assert many["sepal_length"].tolist() == [1, 3]
    assert body.to_dict("records") == [{"a": 1}]


def test_pasted_json_that_does_not_parse_says_where():
    with pytest.raises(ApplicationError) as error:
        frames.parse_pasted_json('[{"a": 1},\n {"a": }]')

    assert str(error.value) == "El JSON no es válido: línea 2, columna 8"


def test_an_empty_body_is_refused():
    with pytest.raises(ApplicationError) as error:
        frames.parse_json_bytes(b"  ")

    assert str(error.value) == "No hay filas que predecir: el cuerpo está vacío."


def test_a_json_body_of_named_rows_is_read_into_a_frame_at_once_with_its_options():
    raw = b'{"dataframe_split": {"columns": %s, "data": [%s, %s]}, "alias": "champion"}' % (
        str(NAMES).replace("'", '"').encode(),
        str(ROW).encode(),
        str(ROW).encode(),
    )

    body = frames.scoring_body_read(raw)

    assert body.options == {"alias": "champion"}
    assert body.frame.to_numpy().tolist() == [ROW, ROW]
    assert list(body.frame.columns) == NAMES
    assert body.rows(columns=None) is body.frame
    assert gc.isenabled()


def test_positional_rows_wait_for_the_models_columns():
    body = frames.scoring_body_read(b'{"inputs": [[5.1, 3.5, 1.4, 0.2]], "version": 2}')

    assert body.frame is None and not body.empty
    assert body.options == {"version": 2}
    assert body.rows(columns=NAMES).to_numpy().tolist() == [ROW]


@pytest.mark.parametrize(
    ("raw", "empty"),
    [(b"{}", True), (b"[1, 2]", True), (b'{"version": 1}', False), (b'{"inputs": 3}', False)],
)
def test_a_body_without_rows_is_empty_and_a_malformed_one_is_reported_when_read(raw, empty):
    body = frames.scoring_body_read(raw)

    assert body.empty is empty
    if not empty:
        with pytest.raises(ApplicationError):
            body.rows(columns=NAMES)


def test_a_row_of_another_length_among_numbers_is_named():
    body = {"dataframe_split": {"columns": NAMES, "data": [ROW, ROW, ROW[:3], ROW]}}

    with pytest.raises(ApplicationError) as error:
        frames.parse_scoring_body(body, columns=NAMES)

    assert str(error.value) == "La fila 3 de dataframe_split tiene 3 valores y hay 4 columnas."


def test_the_garbage_collector_is_back_on_after_a_body_that_does_not_parse():
    with pytest.raises(ApplicationError):
        frames.scoring_body_read(b'{"dataframe_split": ')

    assert gc.isenabled()


def test_rows_already_in_the_signatures_columns_and_types_are_passed_on_as_they_are():
    frame = pd.DataFrame(np.array([ROW, ROW]), columns=NAMES)
    reordered = frame[NAMES[::-1]]
    with_gaps = pd.DataFrame({"age": [1.0], "rooms": [3.0], "city": ["a"], "member": [True]})

    assert frames.input_check(frame, inputs=IRIS).frame is frame
    assert frames.input_check(frame, inputs=IRIS).exact
    assert list(frames.input_check(reordered, inputs=IRIS).frame.columns) == NAMES
    assert not frames.input_check(reordered, inputs=IRIS).exact
    converted = frames.input_check(with_gaps, inputs=MIXED).frame
    assert converted is not with_gaps
    assert str(converted["rooms"].dtype) == "int64"


def test_missing_columns_are_listed_and_nothing_is_predicted():
    frame = pd.DataFrame({"sepal_length": [1.0], "petal_width": [2.0]})

    with pytest.raises(ApplicationError) as error:
        frames.input_check(frame, inputs=IRIS)

    assert str(error.value) == (
        "Faltan columnas que el modelo necesita: sepal_width, petal_length."
    )
    assert error.value.extra == {"missing_columns": ["sepal_width", "petal_length"]}


def test_extra_columns_are_dropped_with_a_note_and_columns_take_the_signature_order():
    frame = pd.DataFrame(
        {"id": ["a"], "petal_width": ["0.2"], **{n: [1] for n in NAMES[:3]}, "note": ["x"]}
    )

    checked = frames.input_check(frame, inputs=IRIS)

    assert list(checked.frame.columns) == NAMES
    assert checked.frame.iloc[0].tolist() == [1.0, 1.0, 1.0, 0.2]
    assert frames.notes_text(checked.notes) == [
        "Se ignoraron las columnas que el modelo no usa: id, note."
    ]


def test_optional_columns_that_are_absent_are_predicted_empty_with_a_note():
    frame = pd.DataFrame({"rooms": [3], "city": ["Madrid"]})

    checked = frames.input_check(frame, inputs=MIXED)

    assert checked.frame["age"].isna().all()
    assert checked.frame["member"].isna().tolist() == [True]
    assert frames.notes_text(checked.notes) == [
        "Las columnas opcionales age, member no venían: se predijo con ellas vacías."
    ]


def test_values_are_converted_to_the_signature_types():
    frame = pd.DataFrame(
        {
            "age": ["41", " 3,5 ", None, "1e2"],
            "rooms": ["3", 4, "5.0", 6.0],
            "city": ["Madrid", 7, 8.0, "  "],
            "member": ["sí", "false", True, None],
        }
    )

    checked = frames.input_check(frame, inputs=MIXED).frame

    assert checked["age"].tolist()[:2] == [41.0, 3.5]
    assert pd.isna(checked["age"][2])
    assert checked["age"][3] == 100.0
    assert checked["rooms"].tolist() == [3, 4, 5, 6]
    assert str(checked["rooms"].dtype) == "int64"
    assert checked["city"].tolist()[:3] == ["Madrid", "7", "8"]
    assert checked["member"].tolist()[:3] == [True, False, True]
    assert np.isnan(checked["city"][3]) and np.isnan(checked["member"][3])


def test_values_that_cannot_be_converted_name_the_column_and_the_row():
    frame = pd.DataFrame(
        {
            "age": ["41", "cuarenta", "3"],
            "rooms": ["3", "4", "2.5"],
            "city": ["a", "b", "c"],
            "member": ["sí", "quizá", "no"],
        }
    )

    with pytest.raises(ApplicationError) as error:
        frames.input_check(frame, inputs=MIXED, first_row=10)

    assert str(error.value) == (
        "Hay valores que no se pueden convertir al tipo del modelo: "
        "columna «age», fila 11: «cuarenta» no es un número; "
        "columna «rooms», fila 12: «2.5» no es un número entero; "
        "columna «member», fila 11: «quizá» no es verdadero o falso."
    )
    assert error.value.extra["invalid_values"][0] == {
        "column": "age",
        "row": 11,
        "value": "cuarenta",
        "expected": "double",
    }


def test_an_integer_column_cannot_have_a_gap():
    frame = pd.DataFrame({"rooms": ["3", None], "city": ["a", "b"]})

    with pytest.raises(ApplicationError) as error:
        frames.input_check(frame, inputs=MIXED)

    assert "columna «rooms», fila 2: vacío no es un número entero" in str(error.value)


def test_at_most_five_bad_values_are_quoted():
    frame = pd.DataFrame({name: ["x"] * 4 for name in NAMES})

    with pytest.raises(ApplicationError) as error:
        frames.input_check(frame, inputs=IRIS)

    assert len(error.value.extra["invalid_values"]) == frames.MAX_REPORTED_ERRORS


def test_rows_check_refuses_no_rows_and_too_many(settings):
    settings.PREDICT_MAX_ROWS = 3
    frames.rows_check(3)

    with pytest.raises(ApplicationError) as empty:
        frames.rows_check(0)
    with pytest.raises(ApplicationError) as many:
        frames.rows_check(4)

    assert str(empty.value) == "No hay filas que predecir."
    assert str(many.value) == "Demasiadas filas: 4; el máximo por petición es 3."


def test_the_scoring_response_has_probabilities_only_when_computed():
    plain = PredictionOutput(predictions=["a", "b"])
    with_proba = PredictionOutput(
        predictions=["a"], classes=["a", "b"], probabilities=[[0.75, 0.25]]
    )

    assert frames.scoring_response(plain) == {"predictions": ["a", "b"]}
    assert frames.scoring_response(with_proba) == {
        "predictions": ["a"],
        "classes": ["a", "b"],
        "probabilities": [[0.75, 0.25]],
    }


def test_the_result_keeps_every_input_column_and_adds_predictions_and_probabilities():
    original = pd.DataFrame({"id": ["r1", "r2"], "prediction": [1, 2]})
    output = PredictionOutput(
        predictions=["a", "b"], classes=["a", "b"], probabilities=[[0.9, 0.1], [0.2, 0.8]]
    )

    frame = frames.result_frame(original, output)

    assert list(frame.columns) == [
        "id",
        "prediction",
        "prediction_",
        "probability_a",
        "probability_b",
    ]
    assert frame["prediction_"].tolist() == ["a", "b"]
    assert frame["probability_b"].tolist() == [0.1, 0.8]


def test_the_csv_escapes_formulas_but_not_numbers():
    frame = pd.DataFrame(
        {
            "=cmd": ["=HYPERLINK(1)", "+1+2", "-2.5", "@SUM(A1)", "ok", None],
            "n": [-1.5, 2, 3, 4, 5, 6],
        }
    )
    handle = io.StringIO()

    csv_write(frame, handle)

    assert handle.getvalue().splitlines() == [
        "'=cmd,n",
        "'=HYPERLINK(1),-1.5",
        "'+1+2,2.0",
        "-2.5,3.0",
        "'@SUM(A1),4.0",
        "ok,5.0",
        ",6.0",
    ]


def test_a_prediction_file_is_read_as_text_with_its_delimiter_and_encoding():
    content = "edad;ciudad\n41;Cádiz\n;León\n".encode("cp1252")
    source = io.BytesIO(content)

    table = text_table_open(source)
    chunks = list(text_table_chunks(source, table, chunk_rows=1))

    assert (table.encoding, table.delimiter, table.columns) == ("cp1252", ";", ["edad", "ciudad"])
    assert [chunk.to_dict("records") for chunk in chunks] == [
        [{"edad": "41", "ciudad": "Cádiz"}],
        [{"edad": None, "ciudad": "León"}],
    ]


def test_a_single_column_file_is_accepted():
    source = io.BytesIO(b"x\n1\n2\n")

    table = text_table_open(source)

    assert table.columns == ["x"]
    assert pd.concat(text_table_chunks(source, table, chunk_rows=10))["x"].tolist() == ["1", "2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "El archivo está vacío."),
        (b"PK\x03\x04rest", "parece ZIP/XLSX"),
    ],
)
def test_an_empty_or_binary_file_is_refused(content, message):
    with pytest.raises(ApplicationError) as error:
        text_table_open(io.BytesIO(content))

    assert message in str(error.value)


def test_notes_are_worded_when_shown_and_old_text_notes_still_read():
    from django.utils import translation

    note = frames.note_make(frames.IGNORED_COLUMNS, names=["cultivar"])
    with translation.override("en"):
        assert frames.note_text(note) == "The column the model does not use was ignored: cultivar."
        # A row stored before notes had codes keeps its text.
        assert frames.note_text("Se ignoró la columna: x.") == "Se ignoró la columna: x."
    with translation.override("es"):
        assert frames.note_text(note) == "Se ignoró la columna que el modelo no usa: cultivar."
    assert frames.notes_merge([note, dict(note), "a", "a"]) == [note, "a"]
