"""Spreadsheet imports (PRODUCT I3): the upload, the job a worker runs, and its recovery.

``import_job_create`` stores the file and queues the job: the upload answers at once.
``import_job_run`` (the worker) reads the file in a streaming way, checks every row, and records the
whole file or nothing:

* Actions go through the one recording service (R1–R4): one ``ratings.services.actions_recorder``
  for the file, fed ``IMPORT_CHUNK`` rows at a time, all inside one transaction. A chunk with
  errors records nothing and the file goes on being checked, so every error of the file is
  reported; at the end any error (or a dry run) rolls every chunk back. The aggregates are
  applied once, at the end of a valid file.
* People go through ``orgs.services.member_create``, a savepoint per row, in the same transaction.
* KPI definitions and units go through ``kpis.imports`` (``kpis_import``, ``units_import``): the
  kpis services, a savepoint per row, in the same transaction.

Exactly once. The job row is locked (``SELECT … FOR UPDATE``) for the whole run and the result is
committed with the recording, so a job is either finished with everything recorded or not at all.
A worker that dies mid-file loses its transaction; the message, acknowledged late, is delivered
again and the job runs again from the start. ``imports_resume_stale`` re-queues jobs whose worker
vanished without the broker noticing, and a second runner of a job that is still running waits for
the first and then finds it finished. Rows without an external id get one derived from the file's
SHA-256 and the row number (R4), so even the same file uploaded twice counts nothing twice.

Progress. The job's own row cannot show progress while its transaction is open, so the worker
publishes ``processed_rows``/``total_rows`` in the cache as it goes (``integrations.progress``).
"""

import datetime
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from integrations import columns, crypto
from integrations.connectors import ConnectorError, CredentialsRejected, Limits, Record, connector_for, kinds
from integrations.errors import ImportErrorCode, SourceErrorCode
from integrations.models import (
    FINISHED,
    ImportJob,
    ImportKind,
    ImportStatus,
    IntegrationSource,
    PersonKey,
    Schedule,
)
from integrations.parsing import Table, Unreadable, file_format, open_table
from integrations.progress import progress_key
from integrations.tasks import import_job_run as import_job_run_task
from integrations.tasks import integration_source_run as integration_source_run_task
from kpi_platform.cache import cache_delete, cache_set
from kpi_platform.celery import broker_reachable
from kpi_platform.errors import DomainError
from kpis.imports import kpis_import, units_import
from orgs.models import Company, Department, Member, Role, Team
from orgs.services import member_create
from orgs.tenancy import company_context, current_company_id
from ratings.models import ActionSource
from ratings.services import actions_recorder

SUPPORTED_KINDS = tuple(ImportKind)
DEFINITION_KINDS = (ImportKind.KPIS, ImportKind.UNITS)
MEMBERS_PROGRESS_EVERY = 500
# Rows of an actions file checked and recorded at a time (one batch of the recording service).
IMPORT_CHUNK = 10_000

logger = logging.getLogger(__name__)


# --- Upload --------------------------------------------------------------------------------------


def import_job_create(
    *, file: UploadedFile, kind: str = ImportKind.ACTIONS, dry_run: bool = False, actor: Member | None = None
) -> ImportJob:
    """Store an uploaded file as a queued import; a worker runs it once the upload commits."""
    if kind not in SUPPORTED_KINDS:
        raise DomainError(
            ImportErrorCode.KIND_INVALID,
            _("Choose what the file holds: %(kinds)s.") % {"kinds": ", ".join(SUPPORTED_KINDS)},
            field="kind",
        )
    if file.size > settings.IMPORT_MAX_BYTES:
        raise DomainError(
            ImportErrorCode.FILE_TOO_LARGE,
            _("The file is larger than %(mb)d MB.") % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)},
            field="file",
        )
    if file_format(file.name or "") is None:
        raise DomainError(
            ImportErrorCode.UNSUPPORTED_FILE_TYPE,
            _("Upload an .xlsx or a .csv file."),
            field="file",
        )
    if not broker_reachable():
        # Refused rather than stored: a job no worker can hear of would sit "queued" unexplained.
        raise DomainError(
            ImportErrorCode.QUEUE_UNAVAILABLE,
            _(
                "Imports are paused: the background queue cannot be reached. "
                "Nothing was stored; try again in a few minutes."
            ),
        )
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            dry_run=dry_run,
            file=file,
            file_name=file.name[-255:],
            file_size=file.size,
            file_sha256=digest.hexdigest(),
            language=translation.get_language() or "",
            created_by=actor,
        )
        _enqueue_on_commit(job)
    return job


def import_job_record(*, job: ImportJob, actor: Member | None = None) -> ImportJob:
    """After a successful check ("check only"), record the same file for real as a new job."""
    if not (job.dry_run and job.status == ImportStatus.SUCCEEDED):
        raise DomainError(ImportErrorCode.NOT_RECORDABLE, _("Only a successful check can be recorded."))
    with transaction.atomic():
        new = ImportJob.objects.create(
            kind=job.kind,
            file=job.file.name,
            file_name=job.file_name,
            file_size=job.file_size,
            file_sha256=job.file_sha256,
            language=translation.get_language() or "",
            created_by=actor,
        )
        _enqueue_on_commit(new)
    return new


def _enqueue_on_commit(job: ImportJob) -> None:
    _send_on_commit(import_job_run_task, f"Import {job.id}", job_id=job.id)


def _send_on_commit(task, what: str, **kwargs) -> None:
    """Send ``task`` once the transaction commits, in the current company."""
    company_id = current_company_id()

    def send() -> None:
        # on_commit may run after the caller's context ended (an outer transaction's commit).
        with company_context(company_id):
            try:
                task.delay(**kwargs)
            except OperationalError:
                # The broker went away after the write committed: the job stays queued, and
                # the sweep (``imports_resume_stale``) sends it once the broker is back.
                logger.warning("%s is queued but could not be sent to a worker.", what, exc_info=True)

    transaction.on_commit(send)


# --- The run -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    total_rows: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    pause_reason: str = ""  # a source's run: why the source must stop (its credentials were refused)

    def add_error(self, row: int | None, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < settings.IMPORT_MAX_STORED_ERRORS:
            self.errors.append({"row": row, "column": column, "message": str(message)})


class _Undo(Exception):
    """Rolls the recording back (errors, or a check only) while keeping what was learnt."""


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued (or interrupted) job from the start; a finished one is left as it is."""
    claimed = (
        ImportJob.objects.filter(id=job_id)
        .exclude(status__in=FINISHED)
        .update(
            status=ImportStatus.RUNNING,
            started_at=timezone.now(),
            updated_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return ImportJob.objects.get(id=job_id)
    try:
        with transaction.atomic():
            job = (
                ImportJob.objects.select_for_update(of=("self",)).select_related("created_by").get(id=job_id)
            )
            if job.is_finished:
                return job  # another runner finished it while we waited for the lock
            if job.source_id is not None:
                # Runs of one source never overlap: the next waits here, then reads the cursor
                # this one committed.
                job.source = IntegrationSource.objects.select_for_update().get(id=job.source_id)
            outcome = Outcome()
            try:
                with transaction.atomic(), translation.override(job.language or None):
                    _run(job, outcome)
                    if outcome.error_count or job.dry_run:
                        raise _Undo()
            except _Undo:
                pass
            except Unreadable as exc:
                outcome.add_error(None, None, exc.message)
            _finish(job, outcome)
            return job
    except Exception:
        import_job_fail(
            job_id=job_id, message=_("The import stopped on an unexpected error; nothing was recorded.")
        )
        raise


def import_job_fail(*, job_id: int, message: str) -> None:
    """Mark an unfinished job failed with a file-level error (nothing of it was recorded)."""
    ImportJob.objects.filter(id=job_id).exclude(status__in=FINISHED).update(
        status=ImportStatus.FAILED,
        errors=[{"row": None, "column": None, "message": str(message)}],
        error_count=1,
        finished_at=timezone.now(),
    )
    cache_delete(progress_key(job_id))


def _finish(job: ImportJob, outcome: Outcome) -> None:
    job.status = ImportStatus.FAILED if outcome.error_count else ImportStatus.SUCCEEDED
    job.total_rows = job.processed_rows = outcome.total_rows
    if not outcome.error_count:  # a failed file recorded nothing, whatever its valid chunks counted
        job.created, job.duplicates = outcome.created, outcome.duplicates
    job.errors, job.error_count = outcome.errors, outcome.error_count
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "total_rows",
            "processed_rows",
            "created",
            "duplicates",
            "errors",
            "error_count",
            "finished_at",
            "updated_at",
        ]
    )
    cache_delete(progress_key(job.id))
    if job.source is not None and outcome.pause_reason:
        _source_pause(job.source, outcome.pause_reason)


def _run(job: ImportJob, outcome: Outcome) -> None:
    if job.source is not None:
        return _import_source(job, outcome)
    with job.file.open("rb") as file:
        table = open_table(file, job.file_name)
        _publish_progress(job.id, 0, table.estimated_rows)
        if job.kind in DEFINITION_KINDS:
            _import_definitions(job, table, outcome)
        elif job.kind == ImportKind.MEMBERS:
            _import_members(job, table, outcome)
        else:
            _import_actions(job, table, outcome)
    if not outcome.total_rows and not outcome.error_count:
        outcome.add_error(None, None, _("The file has no rows below the header."))


def _publish_progress(job_id: int, processed: int, total: int) -> None:
    cache_set(progress_key(job_id), (processed, max(total, processed)), timeout=settings.IMPORT_STALE_SECONDS)


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(rows, size)):
        yield chunk


# --- Actions -------------------------------------------------------------------------------------


def _import_actions(job: ImportJob, table: Table, outcome: Outcome) -> None:
    """The file's rows, ``IMPORT_CHUNK`` at a time, through one recorder of the recording service:
    each chunk is validated whole, the aggregates are applied once for the file. After an error
    the rest of the file is still checked (every error reported), and the aggregates are not
    written at all: the file is going to be rolled back."""
    positions, spelled, missing = columns.match_header(table.header)
    for name in missing:
        outcome.add_error(1, name, columns.MISSING_COLUMN % {"column": name})
    if missing:
        return
    derived_prefix = f"file:{job.file_sha256[:40]}:"
    reader = columns.ActionRows(positions)
    with actions_recorder(source=ActionSource.IMPORT, recorded_by=job.created_by) as recorder:
        for chunk in _chunks(table.rows, IMPORT_CHUNK):
            items, numbers = [], []
            for number, cells in chunk:
                item = reader.item(cells)
                if item["occurred_at"] is None:
                    outcome.add_error(number, spelled["occurred_at"], columns.required_message())
                    continue
                item.setdefault("external_id", f"{derived_prefix}{number}")
                items.append(item)
                numbers.append(number)
            try:
                result = recorder.add(items)
            except DomainError as exc:
                for error in exc.errors:
                    column = spelled.get(error.field, error.field)
                    outcome.add_error(numbers[error.index], column, error.message)
            else:
                outcome.created += result.created
                outcome.duplicates += result.duplicates
            outcome.total_rows += len(chunk)
            _publish_progress(job.id, outcome.total_rows, table.estimated_rows)
        if outcome.error_count:
            raise _Undo()


# --- People --------------------------------------------------------------------------------------


def _import_members(job: ImportJob, table: Table, outcome: Outcome) -> None:
    """Each new e-mail becomes a person through ``orgs.services.member_create`` (its rules and
    errors); an e-mail already in the company (or earlier in the file) is a duplicate and changes
    nothing, so the same file twice adds nobody twice. Departments and teams are named."""
    positions, spelled, missing = columns.match_header(table.header, columns.MEMBER_COLUMNS)
    for name in missing:
        outcome.add_error(1, name, columns.MISSING_COLUMN % {"column": name})
    if missing:
        return
    known = {email.lower() for email in Member.objects.values_list("user__email", flat=True)}
    places = _Places()
    for number, cells in table.rows:
        outcome.total_rows += 1
        row = {
            name: columns.text_cell(cells[position] if position < len(cells) else None) or ""
            for name, position in positions.items()
        }
        email = row["email"].lower()
        if not email:
            outcome.add_error(number, spelled["email"], columns.required_message())
        elif email in known:
            outcome.duplicates += 1
        else:
            errors = _member_row_errors(row, places)
            for field_name, message in errors:
                outcome.add_error(number, spelled.get(field_name, field_name), message)
            outcome.created += not errors
            known.add(email)
        if outcome.total_rows % MEMBERS_PROGRESS_EVERY == 0:
            _publish_progress(job.id, outcome.total_rows, table.estimated_rows)


def _member_row_errors(row: dict[str, str], places: "_Places") -> list[tuple[str | None, str]]:
    """Create the row's person in a savepoint; the errors, by column, if it was refused."""
    try:
        fields = {
            "email": row["email"],
            "first_name": row.get("first_name", ""),
            "last_name": row.get("last_name", ""),
            "external_id": row.get("external_id", ""),
            "language": row.get("language", "").lower(),
            "role": places.role(row.get("role", "")),
            "department": places.department(row.get("department", "")),
        }
        fields["team"] = places.team(row.get("team", ""), fields["department"])
        with transaction.atomic():
            member_create(**fields)
    except DomainError as error:
        return [(each.field, each.message) for each in error.errors]
    except ValidationError as error:
        return [
            (None if name == "__all__" else name, message)
            for name, messages in error.message_dict.items()
            for message in messages
        ]
    return []


class _Places:
    """The company's roles, departments and teams by the names a file uses, read once per file."""

    def __init__(self):
        self.roles = {}
        for role in Role:
            self.roles[role.value] = role.value
            for language in ("en", "ru"):
                with translation.override(language):
                    self.roles[str(role.label).lower()] = role.value
        self.departments = {department.name.lower(): department for department in Department.objects.all()}
        self.teams: dict[str, list] = {}
        for team in Team.objects.select_related("department"):
            self.teams.setdefault(team.name.lower(), []).append(team)

    def role(self, text: str) -> str:
        if not text:
            return Role.MEMBER
        if text.lower() not in self.roles:
            raise DomainError(
                ImportErrorCode.NOT_FOUND, _("No role is called “%(name)s”.") % {"name": text}, field="role"
            )
        return self.roles[text.lower()]

    def department(self, text: str):
        if not text:
            return None
        if text.lower() not in self.departments:
            raise DomainError(
                ImportErrorCode.NOT_FOUND,
                _("No department is called “%(name)s”.") % {"name": text},
                field="department",
            )
        return self.departments[text.lower()]

    def team(self, text: str, department):
        if not text:
            return None
        teams = [
            team
            for team in self.teams.get(text.lower(), [])
            if department is None or team.department_id == department.id
        ]
        if len(teams) != 1:
            message = (
                _("Several teams are called “%(name)s”: name the department too.")
                if teams
                else _("No team is called “%(name)s”.")
            )
            raise DomainError(ImportErrorCode.NOT_FOUND, message % {"name": text}, field="team")
        return teams[0]


# --- KPI definitions and units -------------------------------------------------------------------


def _import_definitions(job: ImportJob, table: Table, outcome: Outcome) -> None:
    """Through ``kpis.imports``: the kpis services row by row, a savepoint per row, all or nothing."""
    rows = [(number, [columns.text_cell(value) for value in cells]) for number, cells in table.rows]
    outcome.total_rows = len(rows)
    definitions_import = kpis_import if job.kind == ImportKind.KPIS else units_import
    # A check only is rolled back with the rest of the job (``import_job_run``).
    result = definitions_import(header=table.header, rows=rows, actor=job.created_by)
    for number, column, message in result.errors:
        outcome.add_error(number, column, message)
    outcome.created, outcome.duplicates = result.changed, result.unchanged
    _publish_progress(job.id, outcome.total_rows, outcome.total_rows)


# --- Recovery ------------------------------------------------------------------------------------


def imports_resume_stale(*, now: datetime.datetime | None = None) -> list[int]:
    """Queue again the company's jobs a worker should have finished by now (it died, or the
    message was lost); after ``IMPORT_MAX_ATTEMPTS`` a job fails instead. Returns the ids queued."""
    now = now or timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    stale = ImportJob.objects.filter(
        status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING), updated_at__lt=stale_before
    ).values_list("id", "attempts")
    resumed = []
    for job_id, attempts in stale:
        if attempts >= settings.IMPORT_MAX_ATTEMPTS:
            import_job_fail(
                job_id=job_id,
                message=_("The import was interrupted %(n)d times and was given up; nothing was recorded.")
                % {"n": attempts},
            )
            continue
        # Touch it, so the next sweep waits a whole period again before sending it once more.
        ImportJob.objects.filter(id=job_id).update(updated_at=now)
        with transaction.atomic():
            _enqueue_on_commit(ImportJob(id=job_id))
        resumed.append(job_id)
    return resumed


# --- Integration sources (issue 20) ----------------------------------------------------------------
# A source's run is an import job with ``source`` set: ``import_job_run`` claims and locks it as any
# job, locks the source too (runs of one source never overlap), and ``_import_source`` feeds the
# connector's records to the recording service, all or nothing, storing the cursor in the same
# transaction. External ids ``src:<source>:<record>`` make re-reading a record count nothing twice.


def integration_source_create(
    *,
    name: str,
    kind: str,
    settings: dict | None = None,
    credentials: dict | None = None,
    mapping: dict,
    schedule: int = Schedule.HOURLY,
    enabled: bool = True,
    actor: Member | None = None,
) -> IntegrationSource:
    settings, credentials = settings or {}, credentials or {}
    _source_check(name=name, kind=kind, settings=settings, credentials=credentials, mapping=mapping)
    with transaction.atomic():
        return IntegrationSource.objects.create(
            name=name,
            kind=kind,
            settings=settings,
            credentials=crypto.encrypt(credentials),
            mapping=_mapping_clean(mapping),
            schedule=schedule,
            enabled=enabled,
            created_by=actor,
        )


SOURCE_FIELDS = ("name", "kind", "settings", "mapping", "schedule", "enabled")


@transaction.atomic
def integration_source_update(
    *, source: IntegrationSource, credentials: dict | None = None, **changes
) -> IntegrationSource:
    """Change a source; ``credentials`` None keeps the saved ones. Saving a paused source resumes
    it: its admin has seen why it stopped (its credentials changed, or they say it is fixed)."""
    unknown = set(changes) - set(SOURCE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    for name, value in changes.items():
        setattr(source, name, value)
    kept = _saved_credentials(source) if credentials is None else credentials
    _source_check(
        name=source.name,
        kind=source.kind,
        settings=source.settings,
        credentials=kept,
        mapping=source.mapping,
        exclude_id=source.id,
    )
    source.mapping = _mapping_clean(source.mapping)
    if credentials is not None:
        source.credentials = crypto.encrypt(credentials)
    source.paused_at, source.pause_reason = None, ""
    source.save(update_fields=[*SOURCE_FIELDS, "credentials", "paused_at", "pause_reason", "updated_at"])
    return source


def integration_source_delete(*, source: IntegrationSource) -> None:
    """The source goes; its runs stay among the imports, and what they recorded stays recorded."""
    source.delete()


def integration_source_run_now(*, source: IntegrationSource) -> ImportJob:
    """Queue a run of ``source`` (its unfinished run, if one is queued or running already)."""
    with transaction.atomic():
        return _source_queue(source)


def integration_source_run(*, source_id: int) -> ImportJob:
    """The worker: run the source's oldest unfinished run (one is made if none is queued). A run
    left unfinished by a worker that died is run again from the start: nothing of it committed."""
    job = ImportJob.objects.filter(source_id=source_id).exclude(status__in=FINISHED).order_by("id").first()
    if job is None:
        with transaction.atomic():
            job = _source_job_create(IntegrationSource.objects.get(id=source_id))
    return import_job_run(job_id=job.id)


def integration_sources_queue_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Queue a run of each of the company's enabled, unpaused sources whose time has come; the ids."""
    now = now or timezone.now()
    due = IntegrationSource.objects.filter(enabled=True, paused_at=None).filter(
        Q(next_run_at=None) | Q(next_run_at__lte=now)
    )
    queued = []
    for source in due:
        with transaction.atomic():
            source.next_run_at = now + source.interval
            source.save(update_fields=["next_run_at", "updated_at"])
            _source_queue(source)
        queued.append(source.id)
    return queued


def _source_queue(source: IntegrationSource) -> ImportJob:
    job = source.runs.exclude(status__in=FINISHED).order_by("id").first()
    if job is not None:
        return job  # runs never pile up behind a slow or stuck one
    job = _source_job_create(source)
    _send_on_commit(integration_source_run_task, f"A run of source {source.id}", source_id=source.id)
    return job


def _source_job_create(source: IntegrationSource) -> ImportJob:
    """A run of ``source``, its errors written in the language of the admin who connected it, or
    else in the company's (a scheduled run has no one's request to take it from)."""
    creator = Member.objects.filter(pk=source.created_by_id).values_list("user__language", flat=True).first()
    language = creator or Company.objects.get(id=current_company_id()).default_language
    return ImportJob.objects.create(
        kind=ImportKind.ACTIONS, source=source, file_name=source.name[:255], language=language
    )


def _source_check(
    *, name: str, kind: str, settings: dict, credentials: dict, mapping: dict, exclude_id: int | None = None
) -> None:
    errors = []
    if not name.strip():
        errors.append(
            DomainError(SourceErrorCode.SETTINGS_INVALID, _("This field is required."), field="name")
        )
    elif IntegrationSource.objects.filter(name=name).exclude(id=exclude_id).exists():
        errors.append(
            DomainError(
                SourceErrorCode.NAME_TAKEN, _("A source with this name exists already."), field="name"
            )
        )
    if kind not in dict(kinds()):
        errors.append(
            DomainError(
                SourceErrorCode.KIND_INVALID,
                _("Choose a kind of source: %(kinds)s.") % {"kinds": ", ".join(dict(kinds()))},
                field="kind",
            )
        )
    else:
        connector = connector_for(kind)
        for what, given, known in (
            ("settings", settings, connector.settings_fields),
            ("credentials", credentials, connector.credential_fields),
        ):
            if not isinstance(given, dict):
                errors.append(
                    DomainError(SourceErrorCode.SETTINGS_INVALID, _("Expected an object."), field=what)
                )
            for key in set(given) - set(known) if isinstance(given, dict) else ():
                errors.append(
                    DomainError(
                        SourceErrorCode.SETTINGS_INVALID,
                        _("This kind of source has no setting “%(name)s”.") % {"name": key},
                        field=what,
                    )
                )
        if not errors:
            for key, message in connector.check_settings(settings, credentials).items():
                errors.append(DomainError(SourceErrorCode.SETTINGS_INVALID, message, field=key))
    errors += _mapping_errors(mapping)
    if errors:
        raise DomainError.many(errors)


MAPPING_TEXT = ("person", "kpi", "kpi_fixed", "value", "time")


def _mapping_clean(mapping: dict) -> dict:
    clean = {key: (mapping.get(key) or "").strip() for key in MAPPING_TEXT}
    clean["person_key"] = mapping.get("person_key") or PersonKey.EMAIL
    clean["filters"] = [
        {"field": each["field"].strip(), "equals": str(each.get("equals", ""))}
        for each in mapping.get("filters") or []
    ]
    return clean


def _mapping_errors(mapping) -> list[DomainError]:
    def error(message: str, name: str) -> DomainError:
        return DomainError(SourceErrorCode.MAPPING_INVALID, message, field=f"mapping.{name}")

    if not isinstance(mapping, dict):
        return [DomainError(SourceErrorCode.MAPPING_INVALID, _("Expected an object."), field="mapping")]
    errors = [
        error(_("Expected a text."), key)
        for key in MAPPING_TEXT
        if not isinstance(mapping.get(key) or "", str)
    ]
    if errors:
        return errors
    if not (mapping.get("person") or "").strip():
        errors.append(error(_("Name the field that holds the person."), "person"))
    if mapping.get("person_key", PersonKey.EMAIL) not in PersonKey.values:
        errors.append(error(_("The person is an e-mail or an external id."), "person_key"))
    if bool((mapping.get("kpi") or "").strip()) == bool((mapping.get("kpi_fixed") or "").strip()):
        errors.append(
            error(_("Name either the field that holds the KPI or one KPI for every record."), "kpi")
        )
    filters = mapping.get("filters") or []
    if not isinstance(filters, list) or not all(
        isinstance(each, dict) and isinstance(each.get("field"), str) and each["field"].strip()
        for each in filters
    ):
        errors.append(error(_("Each filter names a field and the value it must equal."), "filters"))
    return errors


def _source_pause(source: IntegrationSource, reason: str) -> None:
    source.paused_at, source.pause_reason = timezone.now(), reason[:255]
    source.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    company_id, source_id = current_company_id(), source.id
    transaction.on_commit(lambda: _source_tell_admins(company_id, source_id))


def _source_tell_admins(company_id: int, source_id: int) -> None:
    """E-mail the company's admins, each in their language, that a source was paused."""
    with company_context(company_id):
        source = IntegrationSource.objects.get(id=source_id)
        company = Company.objects.get(id=company_id)
        admins = Member.objects.filter(role=Role.ADMIN, user__is_active=True).select_related("user")
        with get_connection() as connection:
            messages = []
            for admin in admins:
                with translation.override(admin.user.language or company.default_language):
                    subject = _("Integration source “%(name)s” is paused") % {"name": source.name}
                    body = _(
                        "The source “%(name)s” of %(company)s stopped: %(reason)s\n\n"
                        "Change its credentials in the admin to resume it."
                    ) % {"name": source.name, "company": company.name, "reason": source.pause_reason}
                messages.append(
                    EmailMessage(
                        subject, body, settings.DEFAULT_FROM_EMAIL, [admin.user.email], connection=connection
                    )
                )
            connection.send_messages(messages)


def _import_source(job: ImportJob, outcome: Outcome) -> None:
    """The source's records through one recorder, as a file's rows; the cursor on success."""
    source = job.source
    mapping = _mapping_clean(source.mapping)
    columns_of = {
        "user": mapping["person"],
        "kpi": mapping["kpi"] or "kpi",
        "value": mapping["value"] or "value",
        "occurred_at": mapping["time"] or "time",
        "external_id": "id",
    }
    if source.kind not in dict(kinds()):
        outcome.add_error(None, None, _("This kind of source is not available."))
        raise _Undo()
    try:
        credentials = _saved_credentials(source)
    except DomainError as exc:  # paused until they are entered again
        outcome.pause_reason = outcome_message = exc.errors[0].message
        outcome.add_error(None, None, outcome_message)
        raise _Undo() from None
    try:
        connector = connector_for(source.kind)
        pull = connector.pull(
            settings=source.settings,
            credentials=credentials,
            cursor=source.cursor or None,
            limits=Limits(),
            now=timezone.now(),
        )
        with actions_recorder(source=ActionSource.INTEGRATION) as recorder:
            for chunk in _chunks(pull.records, IMPORT_CHUNK):
                items, positions = [], []
                for record in chunk:
                    if not _record_matches(record, mapping["filters"]):
                        continue
                    item = _record_item(source, record, mapping)
                    if (message := _person_error(item["user"], mapping["person_key"])) is not None:
                        outcome.add_error(record.position, columns_of["user"], message)
                        continue
                    if mapping["time"] and item["occurred_at"] is None:
                        outcome.add_error(
                            record.position, columns_of["occurred_at"], columns.required_message()
                        )
                        continue
                    items.append(item)
                    positions.append(record.position)
                try:
                    result = recorder.add(items)
                except DomainError as exc:
                    for error in exc.errors:
                        outcome.add_error(
                            positions[error.index], columns_of.get(error.field, error.field), error.message
                        )
                else:
                    outcome.created += result.created
                    outcome.duplicates += result.duplicates
                outcome.total_rows += len(chunk)
                _publish_progress(job.id, outcome.total_rows, outcome.total_rows)
            if outcome.error_count:
                outcome.errors.sort(key=lambda error: error["row"] or 0)  # in the records' order
                raise _Undo()
    except CredentialsRejected:
        outcome.pause_reason = _("credentials rejected by the source")
        outcome.add_error(
            None, None, _("Credentials rejected by the source: the source is paused until they are changed.")
        )
        raise _Undo() from None
    except ConnectorError as exc:
        outcome.add_error(exc.position, exc.field, exc.message)
        raise _Undo() from None
    source.cursor = pull.cursor or ""
    source.save(update_fields=["cursor", "updated_at"])  # committed with what the run recorded


def _saved_credentials(source: IntegrationSource) -> dict:
    """The source's credentials; a clear refusal, not a 500, when no key of ``INTEGRATION_KEYS``
    opens them any more (the key they were saved under was dropped without a rotation)."""
    try:
        return crypto.decrypt(source.credentials)
    except crypto.InvalidToken:
        raise DomainError(
            SourceErrorCode.SETTINGS_INVALID,
            _("The saved credentials can no longer be read (their key was removed): enter them again."),
            field="credentials",
        ) from None


def _person_error(person: str, key: str) -> str | None:
    """The recording service tells e-mails (with an "@") from external ids; the mapping says which
    the field holds, so a value of the other kind is refused rather than looked up as it."""
    if not person or ("@" in person) == (key == PersonKey.EMAIL):
        return None
    if key == PersonKey.EMAIL:
        return _("Expected an e-mail address.")
    return _("Expected an external id, not an e-mail address.")


def _record_matches(record: Record, filters: list[dict]) -> bool:
    return all(
        columns.text_cell(record.fields.get(each["field"])) == (each["equals"] or None) for each in filters
    )


def _record_item(source: IntegrationSource, record: Record, mapping: dict) -> dict:
    fields = record.fields
    item = {
        "user": columns.text_cell(fields.get(mapping["person"])) or "",
        "kpi": mapping["kpi_fixed"] or columns.text_cell(fields.get(mapping["kpi"])) or "",
        "external_id": f"src:{source.id}:{record.id}",
    }
    if mapping["value"]:
        value = columns.value_cell(fields.get(mapping["value"]))
        if value is not None:
            item["value"] = value
    else:
        item["value"] = "1"
    item["occurred_at"] = (
        columns.moment_cell(fields.get(mapping["time"])) if mapping["time"] else record.updated_at
    )
    if not mapping["time"] and item["occurred_at"] is None:
        del item["occurred_at"]  # no time at all: the moment it is recorded
    return item
