from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from cauce.datasets.models import Dataset, DatasetVersion


class DatasetVersionInline(admin.TabularInline):
    """A dataset's versions, read only: the upload services alone create and delete them."""

    model = DatasetVersion
    fields = ["version", "original_filename", "digest", "row_count", "column_count", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Datasets are created by the upload service only: the admin shows, it does not edit data."""

    list_display = ["name", "project", "file_format", "row_count", "column_count", "created_at"]
    list_filter = ["file_format"]
    search_fields = ["name", "original_filename", "project__name"]
    list_select_related = ["project"]
    fields = [
        "project",
        "name",
        "description",
        "file",
        "original_filename",
        "file_format",
        "encoding",
        "delimiter",
        "size_bytes",
        "row_count",
        "column_count",
        "uploaded_by",
        "created_at",
        "schema_table",
        "preview_table",
    ]
    readonly_fields = [field for field in fields if field not in ("name", "description")]

    inlines = [DatasetVersionInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("esquema"))
    def schema_table(self, obj: Dataset) -> str:
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("Columna"),
            _("Tipo"),
            _("Clase"),
            _("Faltantes"),
            _("Únicos"),
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (c.get("name"), c.get("dtype"), c.get("kind"), c.get("missing"), c.get("unique"))
                for c in obj.schema
            ),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description=_("vista previa"))
    def preview_table(self, obj: Dataset) -> str:
        preview = obj.preview or {}
        header = format_html_join(
            "", "<th>{}</th>", ((name,) for name in preview.get("columns", []))
        )
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", (("—" if v is None else v,) for v in row)),)
                for row in preview.get("rows", [])
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", header, rows)
