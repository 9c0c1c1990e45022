"""Sending a queued experiment to the workers.

Its own module so that the services (which queue) and the reaper (``liveness``, which sends
a lost message again) both import it from above: neither needs the other.
"""

import logging
from typing import Any

from django.utils.translation import gettext as _

from cauce.experiments import transitions
from cauce.experiments.models import MLExperiment
from cauce.experiments.tasks import run_full_experiment_pipeline_task

logger = logging.getLogger(__name__)


def experiment_dispatch(*, experiment_id: Any, task_id: str) -> bool:
    """Send the task with this id; if the broker refuses it, say so on the experiment
    instead of a 500. True when the message was sent."""
    try:
        run_full_experiment_pipeline_task.apply_async(args=[str(experiment_id)], task_id=task_id)
    except Exception:
        logger.exception("Could not send experiment %s to the broker", experiment_id)
        transitions.to_error(
            experiment_id=experiment_id,
            message=_(
                "No se pudo poner el experimento en cola: la cola de tareas no responde. "
                "Inténtelo de nuevo en unos minutos."
            ),
            from_statuses=[MLExperiment.Status.QUEUED],
            task_id=task_id,
        )
        return False
    return True
