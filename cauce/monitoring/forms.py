"""Monitoring's forms: validate input only; the writes go through ``services``."""

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.utils.translation import gettext_lazy as _

PSI_RANGE = (0.01, 10.0)
P_VALUE_RANGE = (1e-12, 0.5)
MIN_ROWS_RANGE = (1, 1_000_000)


class MonitoringSettingsForm(forms.Form):
    """A project's drift thresholds and alert webhook. The secret is write-only: the field is
    never filled back, and left empty it keeps the stored one."""

    psi_alert = forms.FloatField(
        label=_("PSI de alerta"),
        min_value=PSI_RANGE[0],
        max_value=PSI_RANGE[1],
        help_text=_("Una variable se marca cuando su PSI llega a este valor (habitual: 0,2)."),
    )
    p_value_alert = forms.FloatField(
        label=_("p-valor de alerta"),
        validators=[MinValueValidator(P_VALUE_RANGE[0]), MaxValueValidator(P_VALUE_RANGE[1])],
        help_text=_("…o cuando el p-valor de su test queda por debajo (habitual: 0,01)."),
    )
    min_rows = forms.IntegerField(
        label=_("Filas mínimas para el test"),
        min_value=MIN_ROWS_RANGE[0],
        max_value=MIN_ROWS_RANGE[1],
        help_text=_("El test solo marca una variable con al menos estas filas de muestra."),
    )
    webhook_url = forms.URLField(
        label=_("Webhook"),
        required=False,
        max_length=200,
        validators=[URLValidator(schemes=["http", "https"])],
        assume_scheme="https",
        help_text=_("Dirección http o https que recibe las alertas en JSON. Vacía: sin webhook."),
    )
    webhook_secret = forms.CharField(
        label=_("Secreto del webhook"),
        required=False,
        max_length=255,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Firma cada envío (HMAC-SHA256 del cuerpo). Nunca se muestra; vacío conserva el actual."
        ),
    )
    secret_generate = forms.BooleanField(
        label=_("Generar un secreto nuevo"),
        required=False,
        help_text=_("Sustituye el secreto actual; se muestra una sola vez."),
    )

    def clean_webhook_secret(self) -> str:
        secret = self.cleaned_data["webhook_secret"]
        if secret and len(secret) < 16:
            raise forms.ValidationError(_("El secreto debe tener al menos 16 caracteres."))
        return secret

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("webhook_secret") and cleaned.get("secret_generate"):
            raise forms.ValidationError(_("Escribe un secreto o pide uno nuevo, no las dos cosas."))
        return cleaned
