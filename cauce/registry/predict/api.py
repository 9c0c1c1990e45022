"""``POST /api/models/{name}/predict/``: MLflow's scoring-server protocol inside Cauce.

The body is the one ``mlflow models serve`` accepts (``dataframe_split``,
``dataframe_records``, ``inputs``, ``instances``, a CSV with ``Content-Type: text/csv``, or a
Parquet file with ``Content-Type: application/vnd.apache.parquet``, ``application/x-parquet``
accepted too),
so a client written for it works with only the URL changed (and a token). The answer is the
scoring server's ``{"predictions": [...]}``, plus ``classes`` and ``probabilities`` when
asked for and the model has them, the version used and notes about ignored columns.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from cauce.datasets.inference import text_table_chunks, text_table_open
from cauce.monitoring.recording import prediction_recorded
from cauce.registry.api import NAME_PARAMETER
from cauce.registry.predict import frames
from cauce.registry.predict.services import InputTooLargeError, prediction_serve
from cauce.registry.selectors import registered_model_get_for_member


def _body_limit() -> int:
    return settings.PREDICT_MAX_BODY_MB * 1024 * 1024


def _read_limited(stream: Any, parser_context: dict | None) -> bytes:
    request = (parser_context or {}).get("request")
    length = request.META.get("CONTENT_LENGTH") if request is not None else None
    too_large = InputTooLargeError(
        _("El cuerpo de la petición supera el máximo de %(limit)d MB.")
        % {"limit": settings.PREDICT_MAX_BODY_MB}
    )
    if length and str(length).isdigit() and int(length) > _body_limit():
        raise too_large
    raw = stream.read(_body_limit() + 1) if stream is not None else b""
    if len(raw) > _body_limit():
        raise too_large
    return raw


class ScoringJSONParser(BaseParser):
    """JSON with the scoring server's keys, its rows read at once into a DataFrame
    (``frames.ScoringBody``); Spanish errors and a size limit."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return frames.scoring_body_read(_read_limited(stream, parser_context))


class CsvBody(bytes):
    """A ``text/csv`` body, read into rows once the model's columns are known."""


class ScoringCSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return CsvBody(_read_limited(stream, parser_context))


class ParquetBody(bytes):
    """A Parquet body, read into a DataFrame by the view (errors as Spanish 400s)."""


PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"  # MLflow's scoring server's
PARQUET_MEDIA_TYPE_ALIAS = "application/x-parquet"  # what many clients send


class ScoringParquetParser(BaseParser):
    media_type = PARQUET_MEDIA_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return ParquetBody(_read_limited(stream, parser_context))


class ScoringXParquetParser(ScoringParquetParser):
    media_type = PARQUET_MEDIA_TYPE_ALIAS


class ScoringJSONRenderer(JSONRenderer):
    """JSON written by orjson: thousands of predictions in a tenth of the standard encoder's
    time. What orjson does not know (lazy translations...) goes through DRF's encoder."""

    _fallback = JSONEncoder().default

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=self._fallback)


def _csv_frame(raw: bytes) -> pd.DataFrame:
    source = io.BytesIO(raw)
    table = text_table_open(source)
    chunks = list(text_table_chunks(source, table, chunk_rows=settings.PREDICT_CHUNK_ROWS))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=table.columns)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "si", "sí", "on")


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=PredictErrorSerializer, description=description)


class PredictErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    errors = serializers.DictField(
        required=False,
        help_text="missing_columns: [names]; invalid_values: [{column, row, value, expected}]",
    )


class PredictOutputSerializer(serializers.Serializer):
    predictions = serializers.ListField(child=serializers.JSONField())
    classes = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text="Class labels, in the order of each row's probabilities.",
    )
    probabilities = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        required=False,
        help_text="One list per row, when asked for and the model has predict_proba.",
    )
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="The version used (an alias resolved now).")
    notes = serializers.ListField(child=serializers.CharField())


class PredictInputSerializer(serializers.Serializer):
    """Documentation of the body: one of the four scoring-server keys."""

    dataframe_split = serializers.JSONField(
        required=False, help_text='{"columns": [...], "data": [[...], ...]}'
    )
    dataframe_records = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="[{column: value}, ...]"
    )
    inputs = serializers.JSONField(
        required=False, help_text="Row objects, {column: [values]}, or rows as lists."
    )
    instances = serializers.JSONField(required=False, help_text="Like inputs.")
    version = serializers.IntegerField(required=False, help_text="Instead of the query's.")
    alias = serializers.CharField(required=False, help_text="Instead of the query's.")
    probabilities = serializers.BooleanField(required=False)


_QUERY = [
    OpenApiParameter("version", OpenApiTypes.INT, description="A version number (or alias)."),
    OpenApiParameter("alias", OpenApiTypes.STR, description="An alias, e.g. champion."),
    OpenApiParameter(
        "probabilities",
        OpenApiTypes.BOOL,
        description="Add each class's probability (classifiers with predict_proba).",
    ),
]


class ModelPredictApi(APIView):
    parser_classes = [
        ScoringJSONParser,
        ScoringCSVParser,
        ScoringParquetParser,
        ScoringXParquetParser,
    ]
    renderer_classes = [ScoringJSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        summary="Predict with a version or alias (MLflow scoring-server protocol)",
        parameters=[NAME_PARAMETER, *_QUERY],
        request={
            "application/json": PredictInputSerializer,
            "text/csv": OpenApiTypes.STR,
            PARQUET_MEDIA_TYPE: OpenApiTypes.BINARY,
            PARQUET_MEDIA_TYPE_ALIAS: OpenApiTypes.BINARY,
        },
        responses={
            200: PredictOutputSerializer,
            400: _error("Bad input: body, columns or values (named with their row)"),
            401: _error("Not authenticated"),
            403: _error("The version was not trained by Cauce in this project: never loaded"),
            404: _error("No such model, version or alias for this user"),
            409: _error("The version is not READY"),
            413: _error("Body over CAUCE_PREDICT_MAX_BODY_MB"),
            415: _error("Content-Type other than JSON, CSV or Parquet"),
            502: _error("MLflow refused the request, or the model could not be loaded"),
            503: _error("MLflow is not available"),
        },
        examples=[
            OpenApiExample(
                "dataframe_split",
                value={"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}},
                request_only=True,
            )
        ],
    )
    def post(self, request, name):
        model = registered_model_get_for_member(user=request.user, name=name)
        query = request.query_params
        with prediction_recorded(
            model=model, user=request.user, version=query.get("version"), alias=query.get("alias")
        ) as recording:
            return self._predict(request, model, recording)

    def _predict(self, request, model, recording):
        data = request.data
        if isinstance(data, CsvBody):
            body = frames.ScoringBody(options={}, frame=_csv_frame(data))
        elif isinstance(data, ParquetBody):
            body = frames.ScoringBody(options={}, frame=frames.parse_parquet_bytes(data))
        elif isinstance(data, frames.ScoringBody) and not data.empty:
            body = data
        else:
            raise frames.empty_body_error()
        query = request.query_params
        options = body.options
        result = prediction_serve(
            model=model,
            version=query.get("version", options.get("version")),
            alias=query.get("alias", options.get("alias")),
            body=body,
            probabilities=_flag(query.get("probabilities", options.get("probabilities", False))),
        )
        recording.target(result.target)
        recording.frame(body.frame)
        return Response(
            {
                **frames.scoring_response(result.output),
                "name": model.name,
                "version": result.target.version.version,
                "notes": frames.notes_text(result.notes),
            }
        )
