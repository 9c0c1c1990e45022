from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cauce.datasets.models import Dataset


class DatasetUploadForm(forms.Form):
    """What the user sends; the file itself is validated and profiled by the service."""

    name = forms.CharField(
        label=_("Nombre"),
        max_length=Dataset._meta.get_field("name").max_length,
        required=False,
        help_text=_("Si lo deja vacío se usa el nombre del archivo."),
    )
    description = forms.CharField(
        label=_("Descripción"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    file = forms.FileField(
        label=_("Archivo"),
        # Empty files reach the service, which gives the same message as the API.
        allow_empty_file=True,
        error_messages={"required": _("Seleccione un archivo CSV o Parquet.")},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.parquet"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "CSV (separado por comas, punto y coma, tabuladores o barras) o Parquet; "
            "máximo %(limit)d MB."
        ) % {"limit": settings.DATASET_MAX_UPLOAD_MB}


class DatasetVersionUploadForm(forms.Form):
    """A new file for an existing dataset ("Nueva versión")."""

    file = forms.FileField(
        label=_("Archivo"),
        allow_empty_file=True,
        error_messages={"required": _("Seleccione un archivo CSV o Parquet.")},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.parquet"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "CSV o Parquet; máximo %(limit)d MB. Si es idéntico a una versión existente no se "
            "crea ninguna nueva."
        ) % {"limit": settings.DATASET_MAX_UPLOAD_MB}
