from django import forms
from django.utils.translation import gettext_lazy as _

from cauce.projects.models import Project, Role


class ProjectForm(forms.ModelForm):
    """Validates input only; the write goes through the services."""

    class Meta:
        model = Project
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("El nombre del proyecto es obligatorio."))
        return name


class MembershipAddForm(forms.Form):
    username = forms.CharField(label=_("Nombre de usuario"), max_length=150)
    role = forms.ChoiceField(label=_("Rol"), choices=Role.choices, initial=Role.VIEWER)


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Rol"), choices=Role.choices)
