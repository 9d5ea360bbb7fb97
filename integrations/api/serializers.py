"""Output shapes of the imports API (API.md "Imports")."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import ImportStatus
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
