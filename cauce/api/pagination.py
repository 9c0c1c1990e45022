"""Limit/offset pagination that refuses what its schema does not allow."""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """DRF's pagination silently reads ``?offset=abc`` as 0; here it is a 400 with a message.

    The schema says ``limit`` and ``offset`` are integers (limit >= 1, offset >= 0).
    """

    max_limit = 1000

    def _strict(self, request, name: str, minimum: int, maximum: int | None = None) -> None:
        values = request.query_params.getlist(name)
        if not values:
            return
        value = values[0]
        if (
            len(values) > 1
            or not (value.isascii() and value.isdigit())
            or int(value) < minimum
            or (maximum is not None and int(value) > maximum)
        ):
            message = _("«%(name)s» debe ser un número entero entre %(minimum)s y %(maximum)s.") % {
                "name": name,
                "minimum": minimum,
                "maximum": maximum if maximum is not None else "∞",
            }
            raise ValidationError({name: [message]})

    def paginate_queryset(self, queryset, request, view=None):
        self._strict(request, self.limit_query_param, 1, self.max_limit)
        self._strict(request, self.offset_query_param, 0)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, None)}
        for parameter in parameters:
            minimum, maximum = bounds[parameter["name"]]
            parameter["schema"]["minimum"] = minimum
            if maximum is not None:
                parameter["schema"]["maximum"] = maximum
        return parameters
