"""Registered model versions loaded as pyfunc models, to predict inside Cauce.

A loaded model is kept in a per-process LRU cache of ``REGISTRY_MODEL_CACHE_SIZE`` entries,
keyed by (name, version): a version never changes once registered, so nothing else
invalidates it. Aliases are not cached here: callers resolve them on every call (one small
REST request), so an alias moved to another version is followed by the next prediction.

Loading goes through ``models:/<name>/<version>`` with the process's profile (the web's short
timeouts, or the worker's), and every failure becomes ``MlflowUnavailable``,
``MlflowNotFound`` or ``MlflowError``. Callers never see an mlflow object: ``ServedModel``
is an opaque handle whose methods run inside this module.

Loading skips MLflow's dependency check (``suppress_warnings``): it maps every installed
distribution's files to its modules, 1-2 s on the first load of each process, to compare the
model's ``requirements.txt`` with them. Cauce's models are trained by its own worker from
the same image, so what can really differ is the scikit-learn that pickled the model (its
pickles are version-bound) or Python itself: both are in the model's MLmodel and are compared
here, with a warning in the log as MLflow would give.

Probabilities come from the scikit-learn estimator itself: ``PyFuncModel.get_raw_model()``
(public in MLflow 3) returns the very Pipeline the pyfunc wraps, loaded once, so
``predict_proba`` needs neither a second load nor the sklearn flavor's loader.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError
from cauce.core.warning_filters import filters_compact
from cauce.integrations.mlflow.client import tracking_uri, translate_errors
from cauce.integrations.mlflow.errors import MlflowError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputColumn:
    """One column of a model's input signature."""

    name: str
    type: str  # MLflow's DataType name: double, float, long, integer, boolean, string, datetime...
    required: bool


@dataclass(frozen=True)
class PredictionOutput:
    predictions: list[Any]
    # Set only when probabilities were asked for and the model has ``predict_proba``.
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None


@dataclass(frozen=True, eq=False)
class ServedModel:
    """A loaded version: its signature, whether it gives probabilities, and the model."""

    name: str
    version: int
    # None when the version was logged without a column-based input signature.
    inputs: tuple[InputColumn, ...] | None
    classes: tuple[Any, ...] | None
    _pyfunc: Any = field(repr=False)
    _estimator: Any = field(repr=False)
    # The flavor's own predict, for rows Cauce checked against the signature exactly (see
    # ``model_predict``); None when MLflow's checks must run anyway.
    _checked_predict: Any = field(default=None, repr=False)

    @property
    def has_probabilities(self) -> bool:
        return self.classes is not None


# --- loading and the cache -------------------------------------------------------------------

_cache: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
_cache_lock = threading.Lock()
# One lock per key: two requests for the same cold model load it once.
_load_locks: dict[tuple[str, int], threading.Lock] = {}


def served_model_get(*, name: str, version: int) -> ServedModel:
    """The loaded version, from the cache or loaded now (then cached, evicting the oldest)."""
    key = (name, int(version))
    with _cache_lock:
        model = _cache_hit(key)
        if model is not None:
            return model
        load_lock = _load_locks.setdefault(key, threading.Lock())
    with load_lock:
        with _cache_lock:
            model = _cache_hit(key)
            if model is not None:
                return model
        model = _load(name=name, version=int(version))
        with _cache_lock:
            _cache[key] = model
            _cache.move_to_end(key)
            while len(_cache) > max(1, settings.REGISTRY_MODEL_CACHE_SIZE):
                evicted, _model = _cache.popitem(last=False)
                _load_locks.pop(evicted, None)
                logger.info("Model %s v%s evicted from the serving cache", *evicted)
    return model


def served_model_cached(*, name: str, version: int) -> ServedModel | None:
    """The version if this process has it loaded (marked as just used), else None; never
    loads."""
    with _cache_lock:
        return _cache_hit((name, int(version)))


def _cache_hit(key: tuple[str, int]) -> ServedModel | None:
    """The cached model for ``key``, marked as just used; call with ``_cache_lock`` held."""
    model = _cache.get(key)
    if model is not None:
        _cache.move_to_end(key)
    return model


def served_models_cached() -> list[tuple[str, int]]:
    """The (name, version) keys in the cache, least recently used first."""
    with _cache_lock:
        return list(_cache)


def served_models_clear() -> None:
    """Forget every loaded model (tests; a deleted version is not served from memory)."""
    with _cache_lock:
        _cache.clear()
        _load_locks.clear()


def served_model_forget(*, name: str, version: int) -> None:
    with _cache_lock:
        _cache.pop((name, int(version)), None)


def preload() -> None:
    """Import what loading and running a model needs (a web process, at start): otherwise
    the first prediction of each process pays for importing MLflow and scikit-learn."""
    import mlflow.pyfunc
    import mlflow.sklearn  # noqa: F401


def _load(*, name: str, version: int) -> ServedModel:
    import mlflow.pyfunc
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    uri = f"models:/{name}/{version}"
    with translate_errors(what=f"load_model({uri})"), _use_tracking_uri(tracking_uri()):
        try:
            pyfunc = mlflow.pyfunc.load_model(uri, suppress_warnings=True)
        except (ImportError, AttributeError, EOFError, ValueError, TypeError) as exc:
            # An unpicklable file or a missing library: not MLflow's fault, not the user's.
            logger.exception("Model %s could not be loaded", uri)
            raise MlflowError(
                _("No se pudo cargar el modelo '%(name)s' versión %(version)s.")
                % {"name": name, "version": version}
            ) from exc
    _warn_version_mismatch(uri, pyfunc)
    # Loading may have imported modules that install warning filters: compacted again, as
    # at the web process's start (scikit-learn installs them all around each tree).
    filters_compact()
    return ServedModel(
        name=name,
        version=version,
        inputs=_input_columns(pyfunc),
        classes=_classes(pyfunc),
        _pyfunc=pyfunc,
        _estimator=_estimator(pyfunc),
        _checked_predict=_checked_predict(pyfunc),
    )


def _checked_predict(pyfunc: Any) -> Any:
    """The flavor's predict behind ``pyfunc.predict`` when MLflow's schema enforcement is all
    that ``pyfunc.predict`` adds to it (a column signature, no params, no type hints), else
    None."""
    metadata = getattr(pyfunc, "metadata", None)
    predict = getattr(pyfunc, "_predict_fn", None)
    try:
        plain = (
            predict is not None
            and metadata is not None
            and metadata.get_input_schema() is not None
            and metadata.get_params_schema() is None
            and not metadata._is_signature_from_type_hint()
            and not metadata._is_type_hint_from_example()
        )
    except Exception:  # an MLflow without these: keep its own path
        return None
    return predict if plain else None


def _warn_version_mismatch(uri: str, pyfunc: Any) -> None:
    """Log when the model was saved by another scikit-learn or Python than this process's."""
    import platform

    import sklearn

    flavors = pyfunc.metadata.flavors
    saved = {
        "scikit-learn": flavors.get("sklearn", {}).get("sklearn_version"),
        "Python": flavors.get("python_function", {}).get("python_version"),
    }
    here = {"scikit-learn": sklearn.__version__, "Python": platform.python_version()}
    for package, version in saved.items():
        if version and version != here[package]:
            logger.warning(
                "Model %s was saved with %s %s; this process has %s",
                uri, package, version, here[package],
            )  # fmt: skip


def _input_columns(pyfunc: Any) -> tuple[InputColumn, ...] | None:
    schema = pyfunc.metadata.get_input_schema()
    if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
        return None
    return tuple(
        InputColumn(
            name=str(spec.name),
            type=getattr(spec.type, "name", str(spec.type)),
            required=bool(getattr(spec, "required", True)),
        )
        for spec in schema.inputs
    )


def _estimator(pyfunc: Any) -> Any:
    try:
        return pyfunc.get_raw_model()
    except NotImplementedError:
        return None


def _classes(pyfunc: Any) -> tuple[Any, ...] | None:
    estimator = _estimator(pyfunc)
    if estimator is None or not hasattr(estimator, "predict_proba"):
        return None
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return None
    return tuple(_plain(value) for value in classes)


# --- predicting ------------------------------------------------------------------------------


def model_predict(
    *, model: ServedModel, frame: Any, probabilities: bool = False, exact: bool = False
) -> PredictionOutput:
    """Predict a DataFrame already checked against the signature (``frames.input_check``).

    MLflow enforces the schema inside ``predict``, again: a refusal there is the user's data
    (an ApplicationError with MLflow's reason), anything else is logged and reported without
    internals. ``exact``: the frame has exactly the signature's columns, in its order, each
    of its type (``frames.frame_is_exact``), so MLflow's enforcement would return it
    unchanged; it is skipped (about a tenth of a one-row request) when that is all MLflow's
    ``predict`` adds to the flavor's.
    """
    from mlflow.exceptions import MlflowException

    try:
        if exact and model._checked_predict is not None:
            raw = model._checked_predict(frame)
        else:
            raw = model._pyfunc.predict(frame)
        proba = None
        if probabilities and model.has_probabilities:
            proba = model._estimator.predict_proba(frame)
    except MlflowException as exc:
        logger.info("Model %s v%s refused the input: %s", model.name, model.version, exc)
        raise ApplicationError(
            _("El modelo rechazó los datos: %(reason)s")
            % {"reason": str(getattr(exc, "message", exc)).splitlines()[0][:300]}
        ) from exc
    except Exception as exc:
        # The estimator's own refusal of odd values (ValueError, TypeError...): no 500.
        logger.warning("Model %s v%s failed to predict: %r", model.name, model.version, exc)
        raise ApplicationError(
            _("El modelo no pudo predecir con estos datos. Revise los tipos de las columnas.")
        ) from exc
    return PredictionOutput(
        predictions=_as_list(raw),
        classes=list(model.classes) if proba is not None else None,
        probabilities=proba.tolist() if proba is not None else None,
    )


def _as_list(raw: Any) -> list[Any]:
    """Predictions as MLflow's scoring server lists them (arrays, Series or frames), with
    plain Python values and None for NaN, so they go to JSON as they are."""
    import numpy as np
    from pandas.api.types import infer_dtype

    if hasattr(raw, "to_dict") and hasattr(raw, "columns"):
        raw = raw.astype(object).where(raw.notna(), None)
        return raw.to_dict(orient="records")
    values = np.asarray(raw)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return np.where(np.isfinite(values), values.astype(object), None).tolist()
    if values.dtype.kind in "biufUS":
        return values.tolist()
    listed = values.tolist()
    if infer_dtype(values, skipna=False) == "string":
        return listed  # class labels, the usual object array: nothing to convert
    return [None if value != value else _plain(value) for value in listed]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
