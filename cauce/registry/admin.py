from django.contrib import admin

from cauce.registry.models import RegisteredModel


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "main_metric", "created_by", "created_at"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project", "created_by"]
    raw_id_fields = ["project", "created_by"]
    readonly_fields = ["created_at", "updated_at"]
