"""Fields and output shapes of the KPI definitions API (API.md "Units" and "KPIs", PRODUCT K1–K10).

Input is passed to ``kpis.services`` as it was sent: the services own every rule and answer with
API.md's codes (``name_length``, ``rating_units_invalid``, ``language_invalid`` …), so these
serializers only parse the shape. Ids become objects only through querysets scoped to the company
and to the viewer (``ScopedIdField``), so another company's id is ``not_found``.

Localized fields (``name``, ``description``) are objects keyed by language code, both ways. On
output they hold the company's enabled languages that have a value, in the company's order: an
empty language is left out rather than sent as ``""`` (a KPI's ``missing`` says which languages
still block its activation, K5). On input the languages given change, ``""`` or ``null`` clears one,
the others stay; a language the company has not enabled is refused (``language_invalid``).
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kpis import services
from kpis.models import (
    Aggregation,
    BreakdownMethod,
    BreakdownPeriod,
    Category,
    Direction,
    KpiKind,
    KpiStatus,
    Level,
    Measure,
    Perspective,
    TargetPeriod,
    TargetScope,
    Timing,
)
from kpis.selectors import unit_list
from orgs import access as org_access
from orgs.api.serializers import ScopedIdField, ScopedIdListField

_LOCALIZED_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "Text keyed by language code.",
    "example": {"en": "Signed contracts", "ru": "Подписанные договоры"},
}


class RawField(serializers.Field):
    """A value handed to the service exactly as sent (``null`` included): the service checks it,
    so every entry point (admin, API, import) refuses bad input with the same code."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(_LOCALIZED_SCHEMA)
class LocalizedInputField(RawField):
    """``{"en": "…", "ru": "…"}``; checked by the service (languages, lengths, uniqueness)."""


@extend_schema_field({"type": "string", "format": "decimal", "example": "1.00"})
class DecimalInputField(RawField):
    """A decimal, as a string (``"2.50"``) or a JSON number."""


@extend_schema_field(OpenApiTypes.INT)
class IntegerInputField(RawField):
    pass


@extend_schema_field(OpenApiTypes.STR)
class TextInputField(RawField):
    pass


@extend_schema_field(_LOCALIZED_SCHEMA)
class LocalizedOutputField(serializers.Field):
    """The enabled languages of the company (``context["company"]``) that have a value."""

    def __init__(self, field: str, **kwargs):
        self.localized_field = field
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, obj) -> dict[str, str]:
        values = {}
        for language in self.context["company"].languages:
            value = getattr(obj, f"{self.localized_field}_{language}", None)
            if value:
                values[language] = value
        return values


# --- Units (K3) ---------------------------------------------------------------------------------------


class UnitOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = LocalizedOutputField("name")
    is_default = serializers.BooleanField(help_text=_('The company\'s "points": never renamed or deleted.'))
    decimals = serializers.IntegerField(help_text=_("Decimals its figures and targets show: 0, 1 or 2."))

    class Meta:
        ref_name = "Unit"


# --- KPIs (K1, K4–K9) -------------------------------------------------------------------------------------


class AudienceSerializer(serializers.Serializer):
    """K8: who receives the KPI within its level; all three empty means everyone at its level."""

    departments = serializers.ListField(child=serializers.IntegerField())
    teams = serializers.ListField(child=serializers.IntegerField())
    users = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        ref_name = "KpiAudience"


@extend_schema_field(AudienceSerializer)
class AudienceOutputField(serializers.Field):
    """Read from the KPI's prefetched audience entries (no query per KPI)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, entries) -> dict[str, list[int]]:
        audience = {"departments": [], "teams": [], "users": []}
        for entry in entries.all():
            if entry.department_id:
                audience["departments"].append(entry.department_id)
            elif entry.team_id:
                audience["teams"].append(entry.team_id)
            else:
                audience["users"].append(entry.member_id)
        return {key: sorted(ids) for key, ids in audience.items()}


class MissingSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_('Always "incomplete".'))
    field = serializers.CharField(help_text=_('The field and language, e.g. "name.ru".'))
    message = serializers.CharField()

    class Meta:
        ref_name = "KpiMissing"


_THRESHOLDS_SCHEMA = {
    "type": "object",
    "properties": {
        "green": {"type": "string", "format": "decimal", "example": "100.00"},
        "amber": {"type": "string", "format": "decimal", "example": "80.00"},
    },
    "description": "The traffic light's bands in percent of pace (K11): green from, amber from.",
}


@extend_schema_field(_THRESHOLDS_SCHEMA)
class ThresholdsOutputField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, kpi) -> dict[str, str]:
        return {"green": f"{kpi.threshold_green:.2f}", "amber": f"{kpi.threshold_amber:.2f}"}


@extend_schema_field(_THRESHOLDS_SCHEMA)
class ThresholdsInputField(RawField):
    """``{"green": "100", "amber": "80"}``, either band may be left out; checked by the service."""

    def to_internal_value(self, data):
        if not isinstance(data, dict) or set(data) - {"green", "amber"}:
            return {"threshold_green": data}  # the service refuses it with thresholds_invalid
        return {f"threshold_{band}": value for band, value in data.items()}


class _NullIfEmptyCharField(serializers.CharField):
    def to_representation(self, value):
        return value or None


class _OptionalChoiceOutputField(serializers.ChoiceField):
    """A K9 classification: ``null`` when not set (stored as "")."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class KpiOutputSerializer(serializers.Serializer):
    """API.md "KPIs", plus the K9 classifications, ``archived`` and ``missing``."""

    id = serializers.IntegerField()
    name = LocalizedOutputField("name")
    description = LocalizedOutputField("description")
    integration_name = serializers.CharField()
    unit = serializers.IntegerField(source="unit_id")
    kind = serializers.ChoiceField(KpiKind.choices)
    status = serializers.ChoiceField(KpiStatus.choices)
    in_rating = serializers.BooleanField()
    rating_units = serializers.DecimalField(max_digits=12, decimal_places=2)
    rating_points = serializers.IntegerField()
    level = serializers.ChoiceField(Level.choices)
    department = serializers.IntegerField(source="department_id", allow_null=True)
    team = serializers.IntegerField(source="team_id", allow_null=True)
    direction = serializers.ChoiceField(Direction.choices)
    aggregation = serializers.ChoiceField(Aggregation.choices, help_text=_("How values combine (K11)."))
    formula = _NullIfEmptyCharField(
        allow_null=True, help_text=_("A calculated KPI's expression over other KPIs (K11); null otherwise.")
    )
    thresholds = ThresholdsOutputField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True, help_text=_("A user id."))
    audience = AudienceOutputField()
    category = _OptionalChoiceOutputField(Category.choices)
    timing = _OptionalChoiceOutputField(Timing.choices)
    measure = _OptionalChoiceOutputField(Measure.choices)
    perspective = _OptionalChoiceOutputField(Perspective.choices)
    archived = serializers.SerializerMethodField(help_text=_("Archived KPIs are kept, hidden, with history."))
    missing = serializers.SerializerMethodField(
        help_text=_("What keeps the KPI from being made active (K5): each field missing in a language.")
    )

    class Meta:
        ref_name = "Kpi"

    def get_archived(self, kpi) -> bool:
        return kpi.archived_at is not None

    @extend_schema_field(MissingSerializer(many=True))
    def get_missing(self, kpi) -> list[dict]:
        return [
            {"code": error.code, "field": error.field, "message": error.message}
            for error in services.kpi_missing_translations(kpi, self.context["company"])
        ]


class AudienceInputSerializer(serializers.Serializer):
    """Replaces the whole access assignment (K8); a list left out is empty."""

    departments = ScopedIdListField(queryset=org_access.visible_departments, default=list)
    teams = ScopedIdListField(queryset=org_access.visible_teams, default=list)
    users = ScopedIdListField(queryset=org_access.visible_members, default=list, help_text=_("User ids."))

    class Meta:
        ref_name = "KpiAudienceInput"


def _units(viewer):
    return unit_list()  # every unit of the company: anyone who may define a KPI may use any unit


class KpiInputSerializer(serializers.Serializer):
    """Every field is optional here; ``kpis.services`` says what is required (``required``)."""

    name = LocalizedInputField(required=False)
    description = LocalizedInputField(
        required=False,
        help_text=_(
            "Text with links [title](https://…) and [title](internal:kpis/ID); anything else is text."
        ),
    )
    integration_name = TextInputField(required=False, help_text=_("Letters, digits and _."))
    unit = ScopedIdField(
        queryset=_units, required=False, allow_null=True, help_text=_('A unit id; default "points".')
    )
    kind = serializers.ChoiceField(KpiKind.choices, required=False)
    status = serializers.ChoiceField(KpiStatus.choices, required=False)
    in_rating = serializers.BooleanField(required=False)
    rating_units = DecimalInputField(required=False, help_text=_("N in N units = M points (K4)."))
    rating_points = IntegerInputField(required=False, help_text=_("M in N units = M points (K4)."))
    level = serializers.ChoiceField(Level.choices, required=False)
    department = ScopedIdField(queryset=org_access.visible_departments, required=False, allow_null=True)
    team = ScopedIdField(queryset=org_access.visible_teams, required=False, allow_null=True)
    direction = serializers.ChoiceField(Direction.choices, required=False)
    aggregation = TextInputField(
        required=False, help_text=_("sum, count, average, min, max or last (K11); default sum.")
    )
    formula = TextInputField(
        required=False,
        help_text=_('Makes the KPI calculated (K11), e.g. won_deals / leads * 100; null or "" for none.'),
    )
    thresholds = ThresholdsInputField(required=False)
    owner = ScopedIdField(
        queryset=org_access.visible_members, required=False, allow_null=True, help_text=_("A user id.")
    )
    audience = AudienceInputSerializer(required=False)
    category = serializers.ChoiceField(Category.choices, required=False, allow_blank=True, allow_null=True)
    timing = serializers.ChoiceField(Timing.choices, required=False, allow_blank=True, allow_null=True)
    measure = serializers.ChoiceField(Measure.choices, required=False, allow_blank=True, allow_null=True)
    perspective = serializers.ChoiceField(
        Perspective.choices, required=False, allow_blank=True, allow_null=True
    )


def kpi_service_arguments(data: dict) -> dict:
    """Validated KPI input → keyword arguments of ``kpi_create`` / ``kpi_update``."""
    fields = dict(data)
    fields.update(fields.pop("thresholds", None) or {})
    audience = fields.pop("audience", None)
    if audience is not None:
        fields["audience"] = services.Audience(
            departments=audience["departments"], teams=audience["teams"], members=audience["users"]
        )
    return fields


# --- Targets (K9) -------------------------------------------------------------------------------------


class TargetPartSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text=_("The last day of the part (inclusive)."))
    value = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ref_name = "TargetPart"


class BreakdownSerializer(serializers.Serializer):
    into = serializers.ChoiceField(BreakdownPeriod.choices, source="breakdown_period")
    method = serializers.ChoiceField(BreakdownMethod.choices, source="breakdown_method")
    parts = TargetPartSerializer(many=True, source="parts.all")

    class Meta:
        ref_name = "TargetBreakdown"


class TargetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kpi = serializers.IntegerField(source="kpi_id")
    period = serializers.ChoiceField(TargetPeriod.choices)
    start = serializers.DateField()
    scope = serializers.ChoiceField(TargetScope.choices)
    department = serializers.IntegerField(source="department_id", allow_null=True)
    team = serializers.IntegerField(source="team_id", allow_null=True)
    user = serializers.IntegerField(source="member_id", allow_null=True, help_text=_("A user id."))
    value = serializers.DecimalField(max_digits=14, decimal_places=2)
    breakdown = serializers.SerializerMethodField(help_text=_("null when the target is not broken down."))

    class Meta:
        ref_name = "Target"

    @extend_schema_field(BreakdownSerializer(allow_null=True))
    def get_breakdown(self, target) -> dict | None:
        if not target.breakdown_method:
            return None
        return BreakdownSerializer(target).data


# --- History (K10) ------------------------------------------------------------------------------------


class ChangeOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.IntegerField(
        source="actor_id", allow_null=True, help_text=_("A user id; null for a token or the system.")
    )
    actor_label = serializers.CharField()
    object_type = serializers.CharField(help_text=_('"kpi", "unit" or "target".'))
    object_id = serializers.IntegerField()
    object = serializers.CharField(source="object_repr")
    action = serializers.CharField()
    changes = serializers.JSONField(help_text=_("{field: [old, new]}, or the values at creation."))

    class Meta:
        ref_name = "KpiChange"
