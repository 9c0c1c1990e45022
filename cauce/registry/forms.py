from django import forms
from django.utils.translation import gettext_lazy as _

from cauce.registry.models import NAME_MAX_LENGTH
from cauce.registry.services import ALIAS_MAX_LENGTH, DESCRIPTION_MAX_LENGTH


class RegisterForm(forms.Form):
    name = forms.CharField(
        label=_("Nombre del modelo"), max_length=NAME_MAX_LENGTH, required=False, strip=True
    )


class AliasForm(forms.Form):
    alias = forms.CharField(label=_("Alias"), max_length=ALIAS_MAX_LENGTH, strip=True)
    version = forms.TypedChoiceField(label=_("Versión"), coerce=int)

    def __init__(self, *args, versions: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(number, f"v{number}") for number in versions]


class DescriptionForm(forms.Form):
    description = forms.CharField(
        label=_("Descripción"),
        max_length=DESCRIPTION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class VersionEditForm(DescriptionForm):
    tags = forms.CharField(
        label=_("Etiquetas de la versión"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "clave=valor"}),
        help_text=_("Una por línea, como clave=valor."),
    )

    def clean_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["tags"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(
                    _("Línea %(line)d: escriba clave=valor."), params={"line": number}
                )
            tags[key.strip()] = value.strip()
        return tags

    @staticmethod
    def tags_text(tags: dict[str, str]) -> str:
        return "\n".join(f"{key}={value}" for key, value in sorted(tags.items()))


class CompareForm(forms.Form):
    versions = forms.TypedMultipleChoiceField(
        label=_("Versiones"), coerce=int, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, versions: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["versions"].choices = [(number, f"v{number}") for number in versions]

    def clean_versions(self) -> list[int]:
        chosen = self.cleaned_data["versions"]
        if len(chosen) < 2:
            raise forms.ValidationError(_("Elija al menos dos versiones."))
        return sorted(set(chosen))
