"""Celery tasks of the experiments app. Thin: they call the runner."""

from celery import shared_task


@shared_task(bind=True, acks_late=True, name="cauce.experiments.run_full_experiment_pipeline")
def run_full_experiment_pipeline_task(self, experiment_id: str) -> None:
    """Run one experiment end to end (see ``cauce.experiments.runner``)."""
    from cauce.experiments.runner import experiment_execute

    experiment_execute(experiment_id=str(experiment_id))
