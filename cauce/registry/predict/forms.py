from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class PredictForm(forms.Form):
    """A CSV (or Parquet) file, or JSON rows pasted, for one version or alias."""

    file = forms.FileField(
        label=_("Archivo CSV"),
        required=False,
        error_messages={"empty": _("El archivo está vacío.")},
        help_text=_("CSV (cualquier separador habitual; UTF-8, cp1252 o latin-1) o Parquet."),
    )
    rows = forms.CharField(
        label=_("O filas en JSON"),
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "placeholder": '[{"columna": valor, ...}, ...]',
                "spellcheck": "false",
            }
        ),
        help_text=_(
            "Una lista de objetos {columna: valor}, o un cuerpo del servidor de MLflow "
            "(dataframe_split, dataframe_records, inputs)."
        ),
    )
    probabilities = forms.BooleanField(
        label=_("Incluir las probabilidades de cada clase"), required=False, initial=True
    )
    # The reference of a file kept after a refused prediction (see predict.kept).
    kept = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if "file" in self.errors:
            return data
        if not data.get("file") and not data.get("rows") and data.get("kept"):
            return data  # the file kept from the last try: the view takes it
        if bool(data.get("file")) == bool(data.get("rows")):
            raise forms.ValidationError(
                _("Suba un archivo CSV o pegue filas en JSON (uno de los dos).")
            )
        upload = data.get("file")
        if upload is not None and upload.size > settings.PREDICT_MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(
                _("El archivo ocupa %(size).1f MB; el máximo para predecir es %(limit)d MB.")
                % {"size": upload.size / 1024 / 1024, "limit": settings.PREDICT_MAX_UPLOAD_MB}
            )
        return data
