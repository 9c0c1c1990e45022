import uuid

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cauce.api"
    label = "api"

    def ready(self) -> None:
        from rest_framework import serializers

        accept_text = serializers.CharField.to_internal_value

        def to_internal_value(field, data):
            # DRF turns a JSON number into text ({"name": 0} -> "0"); the schema says string,
            # so the API refuses it like any other wrong type.
            if not isinstance(data, str):
                field.fail("invalid")
            return accept_text(field, data)

        serializers.CharField.to_internal_value = to_internal_value

        accept_uuid = serializers.UUIDField.to_internal_value

        def uuid_to_internal_value(field, data):
            # DRF reads a JSON number (and true/false) as a UUID's integer; the schema says a
            # string in the uuid format.
            if not isinstance(data, (str, uuid.UUID)):
                field.fail("invalid", value=data)
            return accept_uuid(field, data)

        serializers.UUIDField.to_internal_value = uuid_to_internal_value
