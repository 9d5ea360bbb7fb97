"""The imports API (API.md "Imports", PRODUCT I3).

Who may import: a company admin (session), or a token with the ``actions`` scope (``definitions``
too for a file of KPI definitions, ``org`` for people). Reading a job needs the ``read`` scope, as
every ``GET``. Another company's job is ``not_found``, exactly as a job that does not exist.
"""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.api.serializers import (
    ImportJobOutputSerializer,
    ImportStartedSerializer,
    SourceMappingSerializer,
    SourceOutputSerializer,
)
from integrations.errors import ImportErrorCode
from integrations.exports import FORMATS
from integrations.models import ImportKind, Schedule
from integrations.reports import error_report_response
from integrations.selectors import import_job_get, integration_source_get, integration_source_list
from integrations.services import (
    import_job_create,
    integration_source_create,
    integration_source_delete,
    integration_source_run_now,
    integration_source_update,
)
from kpi_platform.errors import DomainError
from kpi_platform.ids import MAX_ID, parse_whole
from orgs import access
from orgs.api.permissions import CompanyApi, require, token_of
from orgs.models import TokenScope

# The kinds of API.md; units are imported in the admin only.
API_KINDS = (ImportKind.ACTIONS, ImportKind.MEMBERS, ImportKind.KPIS)
# What a token needs besides ``actions`` to import each kind of file.
KIND_SCOPES = {ImportKind.KPIS: TokenScope.DEFINITIONS, ImportKind.MEMBERS: TokenScope.ORG}
# Multipart framing around the file itself.
MULTIPART_SLACK = 64 * 1024


def _job_id() -> OpenApiParameter:
    return OpenApiParameter("job_id", int, OpenApiParameter.PATH, description="An import id.")


class ImportCreateApi(CompanyApi):
    """Upload a spreadsheet to import in the background; follow it at the answer's ``url``."""

    write_scope = TokenScope.ACTIONS
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        # An empty file is a failed import that says so (API.md), like any unreadable one.
        file = serializers.FileField(allow_empty_file=True, help_text=_("An .xlsx or a .csv (UTF-8) file."))
        kind = serializers.ChoiceField(
            [(kind.value, kind.label) for kind in API_KINDS], default=ImportKind.ACTIONS
        )
        dry_run = serializers.BooleanField(default=False, help_text=_("Check every row and record nothing."))

        class Meta:
            ref_name = "ImportInput"

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # Refuse an oversized upload before it is read (the service checks the file itself too).
        length = parse_whole(request.META.get("CONTENT_LENGTH") or "0", maximum=MAX_ID) or 0
        if length > settings.IMPORT_MAX_BYTES + MULTIPART_SLACK:
            raise _too_large()

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": InputSerializer},
        responses={202: ImportStartedSerializer},
    )
    def post(self, request: Request) -> Response:
        require(access.may_manage_company(self.viewer))
        data = self.validated(self.InputSerializer, request.data)
        token, scope = token_of(request), KIND_SCOPES.get(data["kind"])
        if token is not None and scope is not None and scope not in token.scopes:
            raise exceptions.PermissionDenied(_("This token lacks the scope “%(scope)s”.") % {"scope": scope})
        job = import_job_create(
            file=data["file"], kind=data["kind"], dry_run=data["dry_run"], actor=self.viewer
        )
        url = request.build_absolute_uri(reverse("import-detail", args=[job.id]))
        return Response({"id": job.id, "status": job.status, "url": url}, status=status.HTTP_202_ACCEPTED)


def _too_large() -> DomainError:
    return DomainError(
        ImportErrorCode.FILE_TOO_LARGE,
        _("The file is larger than %(mb)d MB.") % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)},
        field="file",
    )


class ImportDetailApi(CompanyApi):
    """An import's status, progress and first errors; a company admin or a token."""

    @extend_schema(
        operation_id="imports_retrieve", parameters=[_job_id()], responses=ImportJobOutputSerializer
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = import_job_get(job_id=job_id)
        require(access.may_manage_company(self.viewer))
        return Response(ImportJobOutputSerializer(job, context={"request": request}).data)


class ImportErrorReportApi(CompanyApi):
    """Every row error of an import as a spreadsheet (``errors.xlsx`` or ``errors.csv``)."""

    @extend_schema(
        operation_id="imports_errors_retrieve",
        parameters=[_job_id(), OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(FORMATS))],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request: Request, job_id: int, fmt: str):
        job = import_job_get(job_id=job_id)
        require(access.may_manage_company(self.viewer))
        if fmt not in FORMATS:
            raise exceptions.NotFound()
        return error_report_response(job, fmt)


# --- Integration sources (issue 20) ----------------------------------------------------------------
# A company admin's, or a token's with the ``org`` scope to change them (``read`` to read them).
# Credentials are write-only: no answer carries them.


def _source_id() -> OpenApiParameter:
    return OpenApiParameter("source_id", int, OpenApiParameter.PATH, description="An integration source id.")


class SourceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.CharField(help_text=_("A kind of connector: csv_url, json, bitrix24."))
    settings = serializers.DictField(required=False, default=dict)
    credentials = serializers.DictField(
        required=False, write_only=True, help_text=_("Stored encrypted, never returned; omit to keep.")
    )
    mapping = SourceMappingSerializer()
    schedule = serializers.ChoiceField(Schedule.choices, default=Schedule.HOURLY)
    enabled = serializers.BooleanField(default=True)

    class Meta:
        ref_name = "IntegrationSourceInput"


class SourceListApi(CompanyApi):
    """The company's integration sources with their health; creating one."""

    write_scope = TokenScope.ORG

    @extend_schema(operation_id="integrations_list", responses=SourceOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        require(access.may_manage_company(self.viewer))
        return self.paginated_response(integration_source_list(), SourceOutputSerializer)

    @extend_schema(
        operation_id="integrations_create",
        request=SourceInputSerializer,
        responses={201: SourceOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        require(access.may_manage_company(self.viewer))
        data = self.validated(SourceInputSerializer, request.data)
        source = integration_source_create(actor=self.viewer, **data)
        source = integration_source_get(source_id=source.id)
        return Response(SourceOutputSerializer(source, context={"request": request}).data, status=201)


class SourceDetailApi(CompanyApi):
    """One integration source; changing it (a paused source resumes) or deleting it (its runs stay)."""

    write_scope = TokenScope.ORG

    @extend_schema(
        operation_id="integrations_retrieve", parameters=[_source_id()], responses=SourceOutputSerializer
    )
    def get(self, request: Request, source_id: int) -> Response:
        source = integration_source_get(source_id=source_id)
        require(access.may_manage_company(self.viewer))
        return Response(SourceOutputSerializer(source, context={"request": request}).data)

    @extend_schema(
        operation_id="integrations_partial_update",
        parameters=[_source_id()],
        request=SourceInputSerializer(partial=True),
        responses=SourceOutputSerializer,
    )
    def patch(self, request: Request, source_id: int) -> Response:
        source = integration_source_get(source_id=source_id)
        require(access.may_manage_company(self.viewer))
        serializer = SourceInputSerializer(data=request.data, partial=True, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        integration_source_update(source=source, **serializer.validated_data)
        source = integration_source_get(source_id=source_id)
        return Response(SourceOutputSerializer(source, context={"request": request}).data)

    @extend_schema(operation_id="integrations_destroy", parameters=[_source_id()], responses={204: None})
    def delete(self, request: Request, source_id: int) -> Response:
        source = integration_source_get(source_id=source_id)
        require(access.may_manage_company(self.viewer))
        integration_source_delete(source=source)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceRunApi(CompanyApi):
    """Run a source now (or its run that is already queued); follow the run at the answer's ``url``."""

    write_scope = TokenScope.ORG

    @extend_schema(
        operation_id="integrations_run",
        parameters=[_source_id()],
        request=None,
        responses={202: ImportStartedSerializer},
    )
    def post(self, request: Request, source_id: int) -> Response:
        source = integration_source_get(source_id=source_id)
        require(access.may_manage_company(self.viewer))
        job = integration_source_run_now(source=source)
        url = request.build_absolute_uri(reverse("import-detail", args=[job.id]))
        return Response({"id": job.id, "status": job.status, "url": url}, status=status.HTTP_202_ACCEPTED)
