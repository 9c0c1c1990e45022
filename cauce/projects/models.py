from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cauce.core.models import TimeStampedModel


class Role(models.TextChoices):
    VIEWER = "viewer", _("Lector")
    EDITOR = "editor", _("Editor")
    OWNER = "owner", _("Propietario")


# Higher rank includes every right of the lower ones.
ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class Project(TimeStampedModel):
    name = models.CharField(_("nombre"), max_length=120)
    description = models.TextField(_("descripción"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("creado por"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    # One MLflow experiment per project, created lazily by the first run.
    mlflow_experiment_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("proyecto")
        verbose_name_plural = _("proyectos")

    def __str__(self) -> str:
        return self.name

    @property
    def mlflow_experiment_name(self) -> str:
        """The name of the project's MLflow experiment: the project's, made unique by its id
        (MLflow's names are unique); renamed with the project."""
        return f"{self.name} · cauce {self.pk}"

    @property
    def mlflow_legacy_experiment_name(self) -> str:
        """The name the MLflow experiment had before it was named after the project."""
        return f"cauce-project-{self.pk}"


class Membership(TimeStampedModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("rol"), max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="unique_project_member")
        ]
        ordering = ["project", "user__username"]
        verbose_name = _("miembro")
        verbose_name_plural = _("miembros")

    def __str__(self) -> str:
        return f"{self.user} @ {self.project} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]
