"""Output shapes of the imports API (API.md "Imports")."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import ImportStatus, PersonKey, Schedule
from integrations.selectors import import_job_progress

API_ERRORS = 100  # the first errors in the answer; all of them in the error report


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="The spreadsheet's row (the header is 1).")
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ImportStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ImportStatus.choices)
    url = serializers.URLField()

    class Meta:
        ref_name = "ImportStarted"


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ImportStatus.choices)
    total_rows = serializers.SerializerMethodField()
    processed_rows = serializers.SerializerMethodField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.SerializerMethodField()
    error_report_url = serializers.SerializerMethodField()

    class Meta:
        ref_name = "ImportJob"

    def to_representation(self, instance):
        self._progress = import_job_progress(instance)
        return super().to_representation(instance)

    def get_total_rows(self, job) -> int:
        return self._progress[1]

    def get_processed_rows(self, job) -> int:
        return self._progress[0]

    @extend_schema_field(ImportErrorSerializer(many=True))
    def get_errors(self, job) -> list[dict]:
        return ImportErrorSerializer(job.errors[:API_ERRORS], many=True).data

    def get_error_report_url(self, job) -> str | None:
        if not job.error_count:
            return None
        url = reverse("import-error-report", args=[job.id, "xlsx"])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


# --- Integration sources (issue 20) ----------------------------------------------------------------


class SourceFilterSerializer(serializers.Serializer):
    field = serializers.CharField()
    equals = serializers.CharField(allow_blank=True)

    class Meta:
        ref_name = "IntegrationSourceFilter"


class SourceMappingSerializer(serializers.Serializer):
    person = serializers.CharField(help_text="The record's field naming the person.")
    person_key = serializers.ChoiceField(PersonKey.choices, default=PersonKey.EMAIL)
    kpi = serializers.CharField(
        required=False, allow_blank=True, help_text="The field holding a KPI's integration name."
    )
    kpi_fixed = serializers.CharField(
        required=False, allow_blank=True, help_text="Or the integration name of the KPI of every record."
    )
    value = serializers.CharField(required=False, allow_blank=True, help_text="Empty: 1 per record.")
    time = serializers.CharField(
        required=False, allow_blank=True, help_text="Empty: when the record last changed."
    )
    filters = SourceFilterSerializer(many=True, required=False)

    class Meta:
        ref_name = "IntegrationSourceMapping"


class SourceLastRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ImportStatus.choices)
    started_at = serializers.DateTimeField()
    created = serializers.IntegerField()
    url = serializers.URLField(help_text="The run as an import job.")

    class Meta:
        ref_name = "IntegrationSourceLastRun"


class SourceOutputSerializer(serializers.Serializer):
    """A source; its credentials are never part of an answer."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    settings = serializers.DictField()
    mapping = SourceMappingSerializer()
    schedule = serializers.ChoiceField(Schedule.choices)
    enabled = serializers.BooleanField()
    paused = serializers.SerializerMethodField()
    pause_reason = serializers.CharField()
    has_credentials = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()
    records_last_day = serializers.IntegerField(source="day_created")
    next_run_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "IntegrationSource"

    def get_paused(self, source) -> bool:
        return source.paused_at is not None

    def get_has_credentials(self, source) -> bool:
        return bool(source.credentials)

    @extend_schema_field(SourceLastRunSerializer(allow_null=True))
    def get_last_run(self, source) -> dict | None:
        if source.last_run_id is None:
            return None
        url = reverse("import-detail", args=[source.last_run_id])
        request = self.context.get("request")
        return {
            "id": source.last_run_id,
            "status": source.last_run_status,
            "started_at": source.last_run_at,
            "created": source.last_run_created,
            "url": request.build_absolute_uri(url) if request else url,
        }
