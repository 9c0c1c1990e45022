"""Compute the column statistics of the datasets uploaded before they were computed."""

from django.core.management.base import BaseCommand

from cauce.datasets.models import Dataset
from cauce.datasets.services import dataset_statistics_fill


class Command(BaseCommand):
    help = "Compute the column statistics of datasets that have none (or of all with --all)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Recompute every dataset's.")

    def handle(self, *args, **options):
        datasets = (
            Dataset.objects.all() if options["all"] else Dataset.objects.filter(statistics={})
        )
        done = failed = 0
        for dataset in datasets.order_by("pk").iterator():
            if dataset_statistics_fill(dataset=dataset):
                done += 1
            else:
                failed += 1
        self.stdout.write(f"{done} dataset(s) updated, {failed} unreadable.")
