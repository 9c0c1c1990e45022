"""Predicting with a registered model version: which versions may be loaded, and the runs.

The rule that matters most: a model file is code (cloudpickle runs whatever it holds when
loaded), so Cauce loads only versions whose source run is an experiment of the SAME project
as the registered model: a run Cauce's own worker trained. A version registered from
outside Cauce, or from another project's run, is listed by the registry but never loaded.

Which version an alias (or a number) means is asked of MLflow, then remembered by each
process for ``REGISTRY_ALIAS_TTL_SECONDS``: a prediction within that time makes no MLflow
call. The bounds an alias keeps (see ``resolution_fresh``): one moved through Cauce is
followed by the next prediction on every process; one moved in MLflow directly within the
TTL. The loaded model itself comes from the per-process cache (``serving``).
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cauce.core.csv import csv_write
from cauce.core.exceptions import ApplicationError, ConflictError
from cauce.core.warning_filters import filters_compact
from cauce.datasets.inference import PARQUET_MAGIC, text_table_chunks, text_table_open
from cauce.integrations.mlflow import MlflowNotFound, MlflowUnavailable, serving
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.serving import ServedModel
from cauce.monitoring.recording import Recording, prediction_recorded
from cauce.registry.models import (
    PREDICTION_INPUT_NAME,
    PREDICTION_RESULT_NAME,
    PredictionJob,
    RegisteredModel,
)
from cauce.registry.predict import frames
from cauce.registry.predict.retention import retention_cutoff
from cauce.registry.predict.selectors import (
    PredictionGoneError,
    PredictTarget,
    predict_target_resolve,
    remembered_target,
    resolution_fresh,
    resolution_last,
    resolution_remember,
    trusted_source,
    version_not_found,
    version_request,
)

logger = logging.getLogger(__name__)


class InputTooLargeError(ApplicationError):
    status_code = 413


@dataclass(frozen=True)
class PredictionResult:
    target: PredictTarget
    output: serving.PredictionOutput
    notes: list[dict] = field(default_factory=list)


def prediction_preload() -> None:
    """Import, at a web process's start, what the first prediction would otherwise import:
    MLflow's model loading and the scikit-learn classes Cauce's models are pickled from.
    Then the warning filters those imports installed are compacted: scikit-learn installs
    them all again for each tree of a forest it predicts with (``filters_compact``)."""
    from cauce.experiments.pipeline import model as _pipeline  # noqa: F401
    from cauce.experiments.pipeline.algorithms import ALGORITHMS

    for algorithm in ALGORITHMS.values():
        algorithm.estimator_class()
    serving.preload()
    filters_compact()


# --- predicting rows in the request (the JSON API) --------------------------------------------


def prediction_serve(
    *,
    model: RegisteredModel,
    version: Any = None,
    alias: Any = None,
    body: frames.ScoringBody,
    probabilities: bool = False,
) -> PredictionResult:
    """Resolve the version asked for (``predict_target_resolve``) and predict the body's rows.

    A resolution this process remembers and that still holds (``resolution_fresh``) is used
    without asking MLflow. Otherwise MLflow is asked, and that round trip takes about a
    quarter of what 10,000 rows take to predict. So the question is sent first, and while
    MLflow answers the rows are checked and predicted with the version the request most
    likely means: the number asked for, or the version the alias pointed at last time, and
    only if this process has it loaded already (it passed these same checks when it was
    loaded; no model is ever loaded before them). That result, or that error, is used only
    if MLflow names the same version and the version passes the checks now (READY, trained
    by Cauce in this project); otherwise it is dropped and the rows are predicted with the
    version MLflow named, as without a guess.
    """
    alias, number = version_request(version=version, alias=alias)
    fresh = resolution_fresh(model, alias, number)
    if fresh is not None:
        served = serving.served_model_get(name=model.name, version=fresh.version.version)
        output, notes = _predict_body(served, body, probabilities)
        return PredictionResult(
            target=remembered_target(model, alias, fresh), output=output, notes=notes
        )
    answer = mlflow_registry.model_version_lookup(name=model.name, alias=alias, version=number)
    last = resolution_last(model, alias, number)
    guess = number if not alias else last.version.version if last is not None else None
    loaded = None if guess is None else serving.served_model_cached(name=model.name, version=guess)
    early: tuple[serving.PredictionOutput, list[str]] | ApplicationError | None = None
    if loaded is not None:
        try:
            early = _predict_body(loaded, body, probabilities)
        except ApplicationError as error:
            early = error
    try:
        info = answer()
    except MlflowNotFound:
        raise version_not_found(name=model.name, alias=alias, number=number) from None
    target = PredictTarget(
        model=model, version=info, alias=alias, experiment=trusted_source(model, info)
    )
    resolution_remember(model, alias, number, target)
    if early is None or info.version != guess:
        served = serving.served_model_get(name=model.name, version=info.version)
        early = _predict_body(served, body, probabilities)
    elif isinstance(early, ApplicationError):
        raise early
    output, notes = early
    return PredictionResult(target=target, output=output, notes=notes)


def _predict_body(
    model: ServedModel, body: frames.ScoringBody, probabilities: bool
) -> tuple[serving.PredictionOutput, list[str]]:
    """Check the rows against the model's signature and predict them: (output, notes)."""
    names = [column.name for column in model.inputs] if model.inputs else None
    frame = body.rows(columns=names)
    frames.rows_check(len(frame))
    checked = frames.input_check(frame, inputs=model.inputs)
    output = serving.model_predict(
        model=model,
        frame=checked.frame,
        probabilities=probabilities,
        # Rows that came exact are not looked at twice (a tenth of what Cauce adds to a
        # one-row call); converted ones are checked as they are now.
        exact=checked.exact or frames.frame_is_exact(checked.frame, model.inputs),
    )
    return output, checked.notes


# --- predicting a file (in the request, or by a worker) --------------------------------------


@dataclass(frozen=True)
class FileOutcome:
    rows: int
    columns: list[str]
    notes: list[dict]


def _count_rows(handle: IO[bytes]) -> int:
    """Rows of a queued file, for the progress bar: a Parquet file's metadata says it, a
    CSV's lines after the header estimate it (a quoted line break counts twice)."""
    handle.seek(0)
    try:
        if handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC:
            handle.seek(0)
            try:
                return pq.ParquetFile(handle).metadata.num_rows
            except (pa.ArrowException, OSError, ValueError):
                return 0  # the reader reports it, with its message
        handle.seek(0)
        count = 0
        while chunk := handle.read(1024 * 1024):
            count += chunk.count(b"\n")
    finally:
        handle.seek(0)
    return max(count - 1, 0)


def _predict_chunks(
    *,
    model: ServedModel,
    chunks: Any,
    probabilities: bool,
    out: IO[str],
    on_progress: Callable[[int], None] | None = None,
    recording: Recording | None = None,
) -> FileOutcome:
    """Predict each chunk and append it to ``out`` as safe CSV; nothing is kept in memory."""
    rows = 0
    notes: list[dict] = []
    columns: list[str] = []
    try:
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            rows, columns, notes = _predict_chunk(
                model=model,
                chunk=chunk,
                probabilities=probabilities,
                out=out,
                state=(rows, columns, notes),
            )
            if recording is not None:
                recording.chunk(chunk)
            if on_progress is not None:
                on_progress(rows)
    finally:
        # A file's reader is closed now, while its file is still open, even after an error.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if rows == 0:
        raise ApplicationError(_("El archivo no tiene filas de datos, solo la cabecera."))
    return FileOutcome(rows=rows, columns=columns, notes=notes)


def _predict_chunk(
    *,
    model: ServedModel,
    chunk: pd.DataFrame,
    probabilities: bool,
    out: IO[str],
    state: tuple[int, list[str], list[str]],
) -> tuple[int, list[str], list[str]]:
    """Check, predict and append one chunk; the running (rows, columns, notes) after it."""
    rows, columns, notes = state
    checked = frames.input_check(chunk, inputs=model.inputs, first_row=rows + 1)
    output = serving.model_predict(model=model, frame=checked.frame, probabilities=probabilities)
    result = frames.result_frame(chunk, output)
    csv_write(result, out, header=rows == 0)
    columns = columns or [str(name) for name in result.columns]
    notes = frames.notes_merge([*notes, *checked.notes])
    return rows + len(chunk), columns, notes


def _job_file(job: PredictionJob, filename: str) -> str:
    """A file of the job's, by its name in the default storage."""
    return str(PredictionJob.storage_dir(job) / filename)


def _write_result(job: PredictionJob, write: Callable[[IO[str]], FileOutcome]) -> FileOutcome:
    """Write the result to a local temporary file, then store it whole: the storage never
    holds a partial result. ``job.result_file`` names it."""
    with tempfile.TemporaryFile(prefix="cauce-result-") as local:
        text = io.TextIOWrapper(local, encoding="utf-8", newline="")
        outcome = write(text)
        text.flush()
        text.detach()
        local.seek(0)
        name = _job_file(job, PREDICTION_RESULT_NAME)
        default_storage.delete(name)  # a retry's result takes the same name
        job.result_file.name = default_storage.save(name, File(local, name=PREDICTION_RESULT_NAME))
    return outcome


def _check_upload(upload: UploadedFile) -> None:
    limit = settings.PREDICT_MAX_UPLOAD_MB * 1024 * 1024
    if upload.size == 0:
        raise ApplicationError(_("El archivo está vacío."))
    if upload.size > limit:
        raise InputTooLargeError(
            _("El archivo ocupa %(size).1f MB; el máximo para predecir es %(limit)d MB.")
            % {"size": upload.size / 1024 / 1024, "limit": settings.PREDICT_MAX_UPLOAD_MB}
        )


def _header_check(target: PredictTarget, columns: list[str]) -> None:
    """Missing columns are reported before a large file is queued, without loading the model."""
    signature = mlflow_registry.model_signature_get(source=target.version.source)
    if signature is None or not signature.inputs:
        return
    present = {name.strip() for name in columns}
    missing = [c.name for c in signature.inputs if c.required and c.name not in present]
    if missing:
        raise frames.missing_columns_error(missing)


def prediction_job_create(
    *,
    target: PredictTarget,
    user: Any,
    upload: UploadedFile | None = None,
    pasted: str = "",
    probabilities: bool = False,
) -> PredictionJob:
    """Predict an uploaded file or pasted rows; the result is a CSV kept for download.

    Pasted rows and files up to ``PREDICT_ASYNC_THRESHOLD_BYTES`` are predicted now and the
    job is FINISHED when returned; bad input raises and stores nothing. Larger files are
    checked (size, header) and queued for a worker, which reports progress on the job.
    """
    if (upload is None) == (not pasted.strip()):
        raise ApplicationError(_("Suba un archivo CSV o pegue filas en JSON (uno de los dos)."))
    job = PredictionJob(
        registered_model=target.model,
        version=target.version.version,
        alias=target.alias,
        probabilities=probabilities,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if upload is None:
        with prediction_recorded(model=target.model, user=user, source="page") as recording:
            recording.target(target)
            frame = frames.parse_pasted_json(pasted)
            frames.rows_check(len(frame))
            job.source = PredictionJob.Source.JSON
            return _finish_now(job, chunks=[frame], recording=recording)
    _check_upload(upload)
    job.source = PredictionJob.Source.FILE
    job.original_filename = PurePath(upload.name or "datos.csv").name[:255]
    table = text_table_open(upload)
    if upload.size <= settings.PREDICT_ASYNC_THRESHOLD_BYTES:
        with prediction_recorded(model=target.model, user=user, source="page") as recording:
            recording.target(target)
            return _finish_now(
                job,
                chunks=text_table_chunks(upload, table, chunk_rows=settings.PREDICT_CHUNK_ROWS),
                recording=recording,
            )
    _header_check(target, table.columns)
    return _enqueue(job, upload)


def _finish_now(job: PredictionJob, *, chunks: Any, recording: Recording) -> PredictionJob:
    model = serving.served_model_get(name=job.registered_model.name, version=job.version)
    job.started_at = timezone.now()
    try:
        outcome = _write_result(
            job,
            lambda out: _predict_chunks(
                model=model,
                chunks=chunks,
                probabilities=job.probabilities,
                out=out,
                recording=recording,
            ),
        )
    except BaseException:
        _remove_files(job)
        raise
    job.status = PredictionJob.Status.FINISHED
    job.rows_done = job.rows_total = outcome.rows
    job.columns = outcome.columns
    job.notes = outcome.notes
    job.finished_at = timezone.now()
    job.save()
    return job


def _enqueue(job: PredictionJob, upload: UploadedFile) -> PredictionJob:
    from cauce.registry.tasks import prediction_job_run_task

    upload.seek(0)
    job.input_file.name = default_storage.save(_job_file(job, PREDICTION_INPUT_NAME), upload)
    job.status = PredictionJob.Status.QUEUED
    try:
        with transaction.atomic():
            job.save()
            transaction.on_commit(lambda: prediction_job_run_task.delay(str(job.pk)))
    except BaseException:
        _remove_files(job)
        raise
    return job


def _remove_files(job: PredictionJob, *, keep_input: bool = False) -> None:
    """Delete the job's stored files by name (a storage has no folders to remove)."""
    names = {job.result_file.name, _job_file(job, PREDICTION_RESULT_NAME)}
    if not keep_input:
        names |= {job.input_file.name, _job_file(job, PREDICTION_INPUT_NAME)}
    for name in sorted(filter(None, names)):
        default_storage.delete(name)


UNEXPECTED_ERROR = gettext_lazy(
    "Error inesperado al predecir. El detalle está en el registro del servidor."
)
INPUT_MISSING = gettext_lazy(
    "El archivo de entrada de esta predicción ya no existe: súbalo de nuevo para predecir."
)


def prediction_job_execute(*, job_id: str, retry_on_unavailable: bool = True) -> None:
    """Predict a queued job's file (the worker's side), reporting progress as it goes.

    ``MlflowUnavailable`` is re-raised (the job back to QUEUED) while ``retry_on_unavailable``,
    so the task retries; any other failure ends the job ERROR with a readable message and no
    partial result.
    """
    job = PredictionJob.objects.select_related("registered_model").filter(pk=job_id).first()
    if job is None or job.status not in (PredictionJob.Status.QUEUED, PredictionJob.Status.RUNNING):
        return
    try:
        source = default_storage.open(job.input_file.name, "rb") if job.input_file.name else None
    except FileNotFoundError:
        source = None
    if source is None:
        _fail(job, str(INPUT_MISSING))
        return
    with source:
        if _predict_stored_input(job, source, retry_on_unavailable=retry_on_unavailable):
            default_storage.delete(job.input_file.name)
            job.input_file.name = ""
            job.save()


def _predict_stored_input(
    job: PredictionJob, source: IO[bytes], *, retry_on_unavailable: bool
) -> bool:
    """Predict the job's input, read from the storage as it streams; True when FINISHED
    (the caller deletes the input and saves the job)."""
    job.status = PredictionJob.Status.RUNNING
    job.started_at = timezone.now()
    job.error = ""
    job.rows_total = _count_rows(source)
    job.rows_done = 0
    job.save(update_fields=["status", "started_at", "error", "rows_total", "rows_done"])

    def progress(rows: int) -> None:
        PredictionJob.objects.filter(pk=job.pk).update(rows_done=rows, updated_at=timezone.now())

    try:
        with prediction_recorded(
            model=job.registered_model, user=job.created_by, source="job", version=job.version
        ) as recording:
            recording.target(
                predict_target_resolve(model=job.registered_model, version=job.version)
            )
            model = serving.served_model_get(name=job.registered_model.name, version=job.version)
            table = text_table_open(source)
            outcome = _write_result(
                job,
                lambda out: _predict_chunks(
                    model=model,
                    chunks=text_table_chunks(source, table, chunk_rows=settings.PREDICT_CHUNK_ROWS),
                    probabilities=job.probabilities,
                    out=out,
                    on_progress=progress,
                    recording=recording,
                ),
            )
    except MlflowUnavailable as error:
        if retry_on_unavailable:
            job.status = PredictionJob.Status.QUEUED
            job.save(update_fields=["status", "updated_at"])
            raise
        _fail(job, str(error.message))
        return False
    except ApplicationError as error:
        _fail(job, str(error.message))
        return False
    except Exception:
        logger.exception("Prediction job %s failed", job.pk)
        _fail(job, str(UNEXPECTED_ERROR))
        return False
    job.status = PredictionJob.Status.FINISHED
    job.rows_done = job.rows_total = outcome.rows
    job.columns = outcome.columns
    job.notes = outcome.notes
    job.finished_at = timezone.now()
    return True


def _fail(job: PredictionJob, message: str) -> None:
    """End the job ERROR with no partial result; the input is kept for a retry until the
    job expires (``predict.retention``)."""
    _remove_files(job, keep_input=True)
    job.result_file.name = ""
    if job.input_file.name and not default_storage.exists(job.input_file.name):
        job.input_file.name = ""  # nothing left to retry with
    job.status = PredictionJob.Status.ERROR
    job.error = message
    job.rows_done = 0
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "error",
            "rows_done",
            "input_file",
            "result_file",
            "finished_at",
            "updated_at",
        ]
    )


def prediction_job_retry(*, job: PredictionJob) -> PredictionJob:
    """Queue a failed file job again with the input it kept; a worker predicts it anew.

    Only an ERROR job whose input is still kept (not expired) can be retried; the version is
    checked again as when the job was made (it still exists, is READY and was trained by
    Cauce in this project). Two retries at once queue the job once.
    """
    from cauce.registry.tasks import prediction_job_run_task

    if job.status != PredictionJob.Status.ERROR:
        raise ConflictError(
            _(
                "Solo se puede reintentar una predicción que terminó con error; esta está "
                "«%(status)s»."
            )
            % {"status": job.get_status_display()}
        )
    if not job.input_file.name or job.is_expired or not default_storage.exists(job.input_file.name):
        raise PredictionGoneError(
            _(
                "El archivo de entrada de esta predicción ya no se guarda (se elimina al "
                "caducar): súbalo de nuevo para predecir."
            )
        )
    predict_target_resolve(model=job.registered_model, version=job.version)
    now = timezone.now()
    still_failed = PredictionJob.objects.filter(pk=job.pk, status=PredictionJob.Status.ERROR)
    cutoff = retention_cutoff(now=now)
    if cutoff is not None:
        still_failed = still_failed.filter(finished_at__gte=cutoff)
    with transaction.atomic():
        queued = still_failed.update(
            status=PredictionJob.Status.QUEUED,
            error="",
            rows_done=0,
            rows_total=0,
            started_at=None,
            finished_at=None,
            updated_at=now,
        )
        if not queued:
            raise ConflictError(
                _(
                    "La predicción cambió de estado mientras tanto (ya se reintentó): "
                    "recargue la página."
                )
            )
        transaction.on_commit(lambda: prediction_job_run_task.delay(str(job.pk)))
    job.refresh_from_db()
    return job
