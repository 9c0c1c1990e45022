"""Formula injection: every CSV Cauce writes escapes = + - @ cells with a leading '.

The CSVs Cauce exports: an experiment's held-out predictions and its feature importances
(artifacts of the run, downloaded from the artifacts tab) and a prediction job's result
(registry). All go through one helper, ``cauce.core.csv.csv_write``. A dataset's
download is the user's own file, byte for byte, not an export.
"""

import csv
import io

import numpy as np
import pandas as pd
import pytest

from cauce.core.csv import csv_write
from cauce.experiments.pipeline import reports

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1)"]
ESCAPED = ["'" + cell for cell in HOSTILE]


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_prediction_result_csv_escapes_formulas():
    frame = pd.DataFrame({"texto": HOSTILE, "numero": [-1.5, 2.0, -3.0, 4.0]})
    handle = io.StringIO()
    csv_write(frame, handle)
    rows = read(handle.getvalue())
    assert rows[0] == ["texto", "numero"]
    assert [row[0] for row in rows[1:]] == ESCAPED
    assert [row[1] for row in rows[1:]] == ["-1.5", "2.0", "-3.0", "4.0"]  # numbers stay numbers


def test_the_experiment_predictions_artifact_escapes_formulas(tmp_path):
    x_test = pd.DataFrame({"=HYPERLINK(1)": HOSTILE, "edad": [30, -4, 50, 60]})
    path = tmp_path / "data" / "predictions.csv"
    written = reports.predictions_write(
        path, x_test, pd.Series(["=a", "b", "c", "d"]), np.array(["@x", "b", "c", "d"])
    )
    assert written == 4
    rows = read(path.read_text(encoding="utf-8"))
    assert rows[0] == ["'=HYPERLINK(1)", "edad", "y_true", "y_pred"]
    assert rows[1:] == [
        [ESCAPED[0], "30", "'=a", "'@x"],
        [ESCAPED[1], "-4", "b", "b"],
        [ESCAPED[2], "50", "c", "c"],
        [ESCAPED[3], "60", "d", "d"],
    ]


def test_the_feature_importance_artifact_escapes_formulas_in_column_names(tmp_path):
    importances = pd.Series(
        [0.5, 0.25, 0.125, 0.125], index=pd.Index(HOSTILE, name="feature"), name="importance"
    )
    path = tmp_path / "data" / "feature_importance.csv"
    reports.feature_importance_write(path, importances.to_frame())
    rows = read(path.read_text(encoding="utf-8"))
    assert rows == [
        ["feature", "importance"],
        [ESCAPED[0], "0.5"],
        [ESCAPED[1], "0.25"],
        [ESCAPED[2], "0.125"],
        [ESCAPED[3], "0.125"],
    ]


@pytest.mark.parametrize("cell", ["-1", "+2.5", "-3e5", "hola", "a=b"])
def test_plain_values_are_left_as_they_are(cell):
    handle = io.StringIO()
    csv_write(pd.DataFrame({"x": [cell]}), handle)
    assert read(handle.getvalue())[1] == [cell]
