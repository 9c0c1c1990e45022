"""``manage.py monitoring_profiles``: the reference profile of finished experiments trained
before Cauce made one at training time, built from the dataset version they were trained on
(all its rows: the split's training rows are not kept), kept in Cauce and logged to the run
as ``monitoring/reference_profile.json``. Experiments that have one are left alone."""

from django.core.management.base import BaseCommand

from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow import MlflowError
from cauce.monitoring.services import reference_profile_build, reference_profile_log


class Command(BaseCommand):
    help = "Build the missing reference profiles of finished experiments (drift monitoring)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", type=int, help="Only this project's experiments.")

    def handle(self, *args, project: int | None, **options) -> None:
        missing = MLExperiment.objects.filter(
            status=MLExperiment.Status.FINISHED, reference_profile__isnull=True
        ).select_related("dataset", "dataset_version")
        if project is not None:
            missing = missing.filter(project_id=project)
        built = logged = failed = 0
        for experiment in missing.iterator():
            try:
                stored = reference_profile_build(experiment=experiment)
            except Exception as error:  # a dataset gone or unreadable: say so, go on
                failed += 1
                self.stderr.write(f"{experiment.pk} ({experiment.name}): {error}")
                continue
            built += 1
            try:
                logged += reference_profile_log(stored)
            except MlflowError as error:
                self.stderr.write(f"{experiment.pk}: kept in Cauce, not logged to MLflow: {error}")
        self.stdout.write(
            f"Reference profiles built: {built} ({logged} logged to their MLflow run), "
            f"failed: {failed}."
        )
