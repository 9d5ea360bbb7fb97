"""Serializer fields every company API reuses, and the organization's output shapes (API.md).

Ids in a request become objects only through a queryset scoped to the company and to what the
viewer may see (``orgs.access.visible_*``), built when the request is validated: another company's
id, or one the viewer cannot see, is refused exactly like an id that does not exist (STYLE 2).
"""

import re
from collections.abc import Callable

from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from orgs.models import Member

MAX_ID = 2**63 - 1  # BigAutoField; a larger number would overflow the database driver, not miss
_DIGITS = re.compile(r"[0-9]+")

ScopedQueryset = Callable[[Member | None], QuerySet]


def parse_id(field: serializers.Field, data) -> int:
    """An id is an integer or a string of digits; anything else is the wrong type."""
    if isinstance(data, int) and not isinstance(data, bool):
        return data
    if isinstance(data, str) and len(data) <= 20 and _DIGITS.fullmatch(data):
        return int(data)
    field.fail("incorrect_type", data_type=type(data).__name__)


def _in_range(pk: int) -> bool:
    return 0 < pk <= MAX_ID


@extend_schema_field(OpenApiTypes.INT)
class IdField(serializers.Field):
    """An id that is only parsed, e.g. a filter value: no lookup, so nothing to refuse."""

    default_error_messages = {
        "incorrect_type": _("Expected an id (an integer), got {data_type}."),
        "out_of_range": _("An id is a positive integer of at most 19 digits."),
    }

    def to_internal_value(self, data) -> int:
        pk = parse_id(self, data)
        if not _in_range(pk):
            raise ValidationError(self.error_messages["out_of_range"], code="invalid")
        return pk

    def to_representation(self, value) -> int:
        return value


class _AnyIdField(IdField):
    """An item of ``ScopedIdListField``: out of range is just not found, like any unknown id."""

    def to_internal_value(self, data) -> int:
        return parse_id(self, data)


class _ScopedMixin:
    def __init__(self, *, queryset: ScopedQueryset, **kwargs):
        self.scoped_queryset = queryset
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        # KeyError on purpose when a view forgets the viewer: failing beats seeing everything.
        return self.scoped_queryset(self.context["viewer"])


@extend_schema_field(OpenApiTypes.INT)
class ScopedIdField(_ScopedMixin, serializers.Field):
    """One id → one object of ``queryset(viewer)``; otherwise ``not_found`` on this field."""

    default_error_messages = {
        "incorrect_type": _("Expected an id (an integer), got {data_type}."),
        "does_not_exist": _("Nothing with id {pk_value} was found."),
    }

    def to_internal_value(self, data) -> Model:
        pk = parse_id(self, data)
        found = self.get_queryset().filter(pk=pk).first() if _in_range(pk) else None
        if found is None:
            self.fail("does_not_exist", pk_value=pk)
        return found

    def to_representation(self, value) -> int:
        return value.pk


class ScopedIdListField(_ScopedMixin, serializers.ListField):
    """A list of ids → their objects of ``queryset(viewer)``, in one query, in order, without
    repeats. Each unknown id is reported at its position (``field`` ``members.2``)."""

    default_error_messages = {
        "does_not_exist": _("Nothing with id {pk_value} was found."),
    }

    def __init__(self, *, queryset: ScopedQueryset, max_length: int = 1000, **kwargs):
        super().__init__(queryset=queryset, child=_AnyIdField(), max_length=max_length, **kwargs)

    def to_internal_value(self, data) -> list[Model]:
        # Checked before the lookup: the database would refuse a huge IN (...) with a 500.
        if isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        ids = super().to_internal_value(data)
        wanted = {pk for pk in ids if _in_range(pk)}
        found = {obj.pk: obj for obj in self.get_queryset().filter(pk__in=wanted)} if wanted else {}
        missing = {
            position: [
                ErrorDetail(
                    str(self.error_messages["does_not_exist"]).format(pk_value=pk), code="does_not_exist"
                )
            ]
            for position, pk in enumerate(ids)
            if pk not in found
        }
        if missing:
            raise ValidationError(missing)
        return [found[pk] for pk in dict.fromkeys(ids)]

    def to_representation(self, value) -> list[int]:
        return [obj.pk for obj in value]


@extend_schema_field({"type": "array", "items": {"type": "integer"}})
class RelatedIdsField(serializers.Field):
    """The ids of a many-to-many relation, read from its prefetched rows (no query per row)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, manager) -> list[int]:
        return [obj.pk for obj in manager.all()]


# --- Output shapes (API.md "Organization") --------------------------------------------------------


class DepartmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    managers = RelatedIdsField(help_text=_("Ids of the people who manage the department."))

    class Meta:
        ref_name = "Department"


class TeamOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    department = serializers.IntegerField(source="department_id")
    leads = RelatedIdsField(help_text=_("Ids of the people who lead the team."))

    class Meta:
        ref_name = "Team"


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id", help_text=_("The person's user id."))
    email = serializers.EmailField(source="user.email")
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")
    external_id = serializers.CharField()
    language = serializers.CharField(source="user.language")
    role = serializers.CharField()
    department = serializers.IntegerField(source="department_id", allow_null=True)
    team = serializers.IntegerField(source="team_id", allow_null=True)
    is_active = serializers.BooleanField(source="user.is_active")

    class Meta:
        ref_name = "Member"
