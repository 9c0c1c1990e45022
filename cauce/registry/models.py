from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel

# MLflow's registry column for names is 256 characters long.
NAME_MAX_LENGTH = 256


class RegisteredModel(TimeStampedModel):
    """A model of MLflow's (global) registry that belongs to one Cauce project.

    MLflow holds the versions, aliases, tags and descriptions; this row records which
    project owns the name, so that pages, API and predictions follow that project's roles.
    The MLflow registered model carries the tag ``cauce.project_id`` too.
    """

    project = models.ForeignKey(
        "projects.Project",
        verbose_name=_("proyecto"),
        on_delete=models.CASCADE,
        related_name="registered_models",
    )
    name = models.CharField(_("nombre"), max_length=NAME_MAX_LENGTH, unique=True)
    # The metric the list and the charts show first: the task's main metric.
    main_metric = models.CharField(_("métrica principal"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("creado por"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("modelo registrado")
        verbose_name_plural = _("modelos registrados")

    def __str__(self) -> str:
        return self.name
