"""Log records carry the Celery task id and the experiment id while a worker runs a task.

The request id comes from django-guid (its filter, and its Celery integration carries the id
of the request that enqueued a task into the worker); this module adds what only the worker
knows. Web processes never set the context: their records get ``None`` for both.
"""

import inspect
import logging
from contextvars import ContextVar
from typing import Any

_task_id: ContextVar[str | None] = ContextVar("cauce_task_id", default=None)
_experiment_id: ContextVar[str | None] = ContextVar("cauce_experiment_id", default=None)


def experiment_id_of(task: Any, args: tuple, kwargs: dict) -> str | None:
    """The ``experiment_id`` argument of a task call, positional or keyword, if it has one."""
    if "experiment_id" in kwargs:
        return str(kwargs["experiment_id"])
    try:
        bound = inspect.signature(task.run).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    value = bound.arguments.get("experiment_id")
    return None if value is None else str(value)


def task_context_set(*, task_id: str | None, experiment_id: str | None) -> None:
    _task_id.set(task_id)
    _experiment_id.set(experiment_id)


def task_context_clear() -> None:
    _task_id.set(None)
    _experiment_id.set(None)


class TaskContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.task_id = _task_id.get()
        record.experiment_id = _experiment_id.get()
        return True
