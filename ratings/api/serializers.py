"""Output shapes of the actions and ratings API (API.md "Actions" and "Ratings").

Recording takes no serializer on purpose: ``ratings.services.actions_record`` validates the raw
items of a batch in bulk (per-item DRF serializers were measured as too slow for 5,000 items).
Decimals are strings (``"12.50"``).
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ratings.models import ActionSource, RecalculationStatus


class ActionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        allow_null=True, help_text="The position in the batch; null for one object."
    )
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    points = serializers.DecimalField(max_digits=16, decimal_places=2)
    status = serializers.ChoiceField(["created", "duplicate"])


class ActionRecordOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    results = ActionResultSerializer(many=True)

    class Meta:
        ref_name = "ActionRecordResult"


class _UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")

    class Meta:
        ref_name = "ActionUser"


class ActionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kpi = serializers.CharField(source="kpi.integration_name")
    user = _UserRefSerializer(source="member")
    value = serializers.DecimalField(max_digits=14, decimal_places=2)
    points = serializers.DecimalField(max_digits=16, decimal_places=2)
    occurred_at = serializers.DateTimeField()
    source = serializers.ChoiceField(ActionSource.choices)
    external_id = serializers.SerializerMethodField()
    comment = serializers.CharField()
    voided = serializers.BooleanField(source="is_voided")
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.CharField()
    recorded_by = serializers.IntegerField(source="recorded_by_id", allow_null=True)

    class Meta:
        ref_name = "Action"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_external_id(self, action) -> str | None:
        return action.external_id or None


def _figure_field(source: str, help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24, decimal_places=2, source=source, allow_null=True, help_text=help_text
    )


class _PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)

    class Meta:
        ref_name = "RatingPeriodBounds"


class _RatingUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.get_full_name")

    class Meta:
        ref_name = "RatingUser"


class _RatingRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    user = _RatingUserSerializer(source="member")
    points = serializers.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        ref_name = "RatingRow"


class _MeSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    points = serializers.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        ref_name = "RatingMe"


class LeaderboardOutputSerializer(serializers.Serializer):
    period = _PeriodSerializer(source="*")
    scope = serializers.CharField()
    count = serializers.IntegerField()
    results = _RatingRowSerializer(source="rows", many=True)
    me = _MeSerializer(allow_null=True)

    class Meta:
        ref_name = "Leaderboard"


class RecalculationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kpi = serializers.IntegerField(source="kpi_id")
    status = serializers.ChoiceField(RecalculationStatus.choices)
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    error = serializers.CharField()

    class Meta:
        ref_name = "Recalculation"


class RecalculationStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(RecalculationStatus.choices)
    url = serializers.URLField()

    class Meta:
        ref_name = "RecalculationStarted"


class _PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="The last day (inclusive).")

    class Meta:
        ref_name = "FiguresPeriod"


class KpiFiguresOutputSerializer(serializers.Serializer):
    """A KPI's figure for a scope and a period (K11), as the dashboards show it."""

    kpi = serializers.IntegerField(source="figure.kpi.id")
    period = _PeriodSerializer(source="window")
    scope = serializers.CharField(help_text="company, department:ID, team:ID or user:ID.")
    value = _figure_field("figure.total", "null: no value.")
    count = serializers.IntegerField(
        source="figure.count", help_text="Actions recorded in the scope and period."
    )
    target = _figure_field("figure.target", "null: no target covers the period.")
    expected = _figure_field(
        "figure.expected", "Where the figure should be by today: a sum's target pro-rated, a level's itself."
    )
    progress = _figure_field("figure.progress", "Percent of the target (turned around when lower is better).")
    pace = _figure_field("figure.pace", "Percent of where the figure should be by today.")
    status = serializers.SerializerMethodField(help_text="green, amber, red, or null without a target.")

    class Meta:
        ref_name = "KpiFigures"

    @extend_schema_field(serializers.ChoiceField(["green", "amber", "red"], allow_null=True))
    def get_status(self, answer) -> str | None:
        light = answer["figure"].light
        return None if light == "none" else light
