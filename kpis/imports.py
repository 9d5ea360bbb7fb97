"""Import of KPI definitions and units from a spreadsheet's rows (PRODUCT I3), row by row through
the services (``unit_create``/``unit_update``, ``kpi_create``/``kpi_update``), so a file obeys
exactly the rules of the admin form and the API (STYLE section 4). The import job's worker
(``integrations.services``) reads the file and calls ``kpis_import`` or ``units_import``, as it
calls ``orgs.services.member_create`` for people.

* Headers are case-insensitive. An unknown or repeated column refuses the file (ignoring a
  misspelt column would import something other than what was meant), and so does a column with
  values but no header; the problem is shown on the first row, as a row error. Blank rows are
  skipped.
* Every lookup goes through the company-scoped managers (``Kpi.objects``, ``Unit.objects``, ...):
  another company's id, unit, department or person is "not found" / "unknown", never matched.
* Each row is written in a savepoint. A service's ``DomainError`` (one entry or several) becomes the row's
  errors, keyed by the column (``name.ru`` → ``name_ru``). A row with a cell that cannot be read
  is rehearsed (``kpi_platform.rehearsal``), so it lists the service's errors for its other columns.
* A file is all-or-nothing: any error (or a dry run) rolls every row back, and the dry run runs the
  same services, so it shows the same errors.
* A row that would change nothing writes nothing and counts as unchanged, so a file that was just
  exported imports again cleanly.
"""

from dataclasses import dataclass, field
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from kpi_platform.cells import unescape_formula
from kpi_platform.errors import DomainError
from kpi_platform.rehearsal import rehearse
from kpis import services
from kpis.history import Actor, snapshot
from kpis.models import Aggregation, Kpi, Unit, UnitName
from orgs.models import Company, Department, Member, Team
from orgs.tenancy import current_company_id

LANGUAGES = [code for code, _name in settings.LANGUAGES]

Problems = dict[str, list[str]]  # column (or ``__all__``) → messages


@dataclass
class ImportResult:
    """What a file did: rows that created or changed something, rows that changed nothing (blank
    ones too), and the errors as ``(row number, column or None, message)``."""

    changed: int = 0
    unchanged: int = 0
    errors: list[tuple[int | None, str | None, str]] = field(default_factory=list)


def kpis_import(
    *, header: list, rows: list[tuple[int, list]], actor: Actor = None, dry_run: bool = False
) -> ImportResult:
    """Create or change KPIs from a file's ``header`` and ``(row number, cells)`` rows."""
    return _RowsImport(_KpiRows(actor=actor), header, rows).run(dry_run=dry_run)


def units_import(
    *, header: list, rows: list[tuple[int, list]], actor: Actor = None, dry_run: bool = False
) -> ImportResult:
    """Create or change units from a file's ``header`` and ``(row number, cells)`` rows."""
    return _RowsImport(_UnitRows(actor=actor), header, rows).run(dry_run=dry_run)


def _text(value) -> str:
    """A cell as text: empty for nothing, numbers as written, the formula escape undone."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unescape_formula(value if isinstance(value, str) else str(value))


def _problems_of(error: ValidationError) -> Problems:
    return error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}


def _add(problems: Problems, column: str, message: str) -> None:
    problems.setdefault(column, []).append(message)


class _Unchanged(Exception):
    """Rolls back the savepoint of a row that would change nothing."""


class _Undo(Exception):
    """Rolls the whole file back (errors, or a dry run)."""


# --- The file ----------------------------------------------------------------------------------------


class _RowsImport:
    """One file's run: its header checks, then each row read, checked and written."""

    def __init__(self, reader: "_Rows", header: list, rows: list[tuple[int, list]]):
        self.reader = reader
        width = len(header)
        self.rows = [
            (number, [_text(cell) for cell in (list(cells) + [None] * width)[:width]])
            for number, cells in rows
        ]
        self.result = ImportResult()
        self.invalid: list[tuple[int, Problems]] = []
        self.failed: list[tuple[int, str]] = []
        # pk of a row's target → the row (1, 2, … of the file, blank ones counted) that changed it
        self.touched: dict[int, int] = {}
        self.named, self.file_problems = self._read_header(header)

    def run(self, *, dry_run: bool) -> ImportResult:
        try:
            with transaction.atomic():
                for position, (number, cells) in enumerate(self.rows, 1):
                    self._run_row(position, number, cells)
                if self.invalid or self.failed or dry_run:
                    raise _Undo
        except _Undo:
            pass
        for number, problems in self.invalid:
            for column, messages in problems.items():
                self.result.errors.extend(
                    (number, None if column == NON_FIELD_ERRORS else column, message) for message in messages
                )
        self.result.errors.extend((number, None, message) for number, message in self.failed)
        return self.result

    def _read_header(self, header: list) -> tuple[list[tuple[int, str]], Problems]:
        """The named columns as ``(position, name)``, and the file's problems: a column with values
        but no header, an unknown column, a repeated one."""
        problems: Problems = {}
        names = [_text(name).strip().lower() for name in header]
        for index, name in enumerate(names):
            if not name and any(cells[index].strip() for _number, cells in self.rows):
                _add(
                    problems, NON_FIELD_ERRORS, _("Column %(n)d has values but no header.") % {"n": index + 1}
                )
        named = [(index, name) for index, name in enumerate(names) if name]
        if not named:  # a blank first line: every row would read as blank, and nothing be imported
            message = _("The first row names no column. The columns are: %(columns)s.")
            _add(problems, NON_FIELD_ERRORS, message % {"columns": ", ".join(self.reader.columns)})
        names = [name for _index, name in named]
        for name in names:
            if name not in self.reader.columns:
                message = _("Unknown column. The columns are: %(columns)s.")
                _add(problems, name, message % {"columns": ", ".join(self.reader.columns)})
            elif names.count(name) > 1 and name not in problems:
                _add(problems, name, _("This column appears more than once."))
        return named, problems

    def _run_row(self, position: int, number: int, cells: list[str]) -> None:
        row = {name: cells[index] for index, name in self.named}  # a repeated column: its last cell
        if not self.file_problems and not any(value.strip() for value in row.values()):
            self.result.unchanged += 1  # a blank line
            return
        problems, self.file_problems = self.file_problems, {}
        try:
            with transaction.atomic():
                changed = self._write_row(position, row, problems)
        except ValidationError as error:
            self.invalid.append((number, _problems_of(error)))
        except Exception as error:  # as import-export did: the row's error, and the file fails
            self.failed.append((number, str(error)))
        else:
            if changed:
                self.result.changed += 1
            else:
                self.result.unchanged += 1

    def _write_row(self, position: int, row: dict[str, str], problems: Problems) -> bool:
        """Whether the row changed something; raises ``ValidationError`` with its problems."""
        reader = self.reader
        values = {column: value for column, value in row.items() if column in reader.columns}
        target, fields = reader.read_row(values, problems)
        if target is not None:
            earlier = self.touched.get(target.pk)
            if earlier is not None:
                _add(
                    problems,
                    "id" if values.get("id", "").strip() else reader.key_column,
                    _("Row %(row)s already changes this %(noun)s.") % {"row": earlier, "noun": reader.noun},
                )
            else:
                self.touched[target.pk] = position
        if problems:
            # Collect the service's own errors for the columns that could be read, so the row
            # lists every problem at once; then nothing is written.
            try:
                rehearse(lambda: reader.write_row(target, fields))
            except DomainError as error:
                for column, messages in reader.by_column(error).items():
                    problems.setdefault(column, messages)
            raise ValidationError(problems)
        before = None if target is None else snapshot(target, reader.history_fields)
        try:
            with transaction.atomic():
                saved = reader.write_row(target, fields)
                if before is not None and snapshot(saved, reader.history_fields) == before:
                    raise _Unchanged
        except _Unchanged:
            return False
        except DomainError as error:
            raise ValidationError(reader.by_column(error)) from error
        self.touched[saved.pk] = position
        return True


# --- Reading a row -----------------------------------------------------------------------------------


class _Rows:
    """What a row of one kind of file means (``read_row``: its target and the service arguments)
    and its service call (``write_row``)."""

    model: ClassVar[type[models.Model]]
    columns: ClassVar[tuple[str, ...]]
    history_fields: ClassVar[tuple[str, ...]]  # what "unchanged" compares
    key_column = "id"

    def __init__(self, *, actor: Actor):
        self.actor = actor
        self.company = Company.objects.get(id=current_company_id())

    @property
    def noun(self) -> str:
        return str(self.model._meta.verbose_name)

    def read_row(self, values: dict[str, str], problems: Problems):
        raise NotImplementedError

    def write_row(self, target, fields: dict):
        raise NotImplementedError

    def by_column(self, error: DomainError) -> Problems:
        problems: Problems = {}
        for each in error.errors:
            column = (each.field or "").replace(".", "_")
            _add(problems, column if column in self.columns else NON_FIELD_ERRORS, each.message)
        return problems

    def localized(self, values: dict[str, str], field: str, *, creating: bool) -> dict[str, str] | None:
        """``{language: text}`` for a service from the ``<field>_<language>`` columns present.

        An empty cell clears that language; in a language the company has not enabled only a
        value is passed on, for the service to refuse (``language_invalid``).
        """
        given = {}
        for language in LANGUAGES:
            column = f"{field}_{language}"
            if column not in values:
                continue
            value = values[column]
            if language in self.company.languages or value.strip():
                given[language] = value
        if not given and not creating:
            return None
        return given

    def find_by_id(self, values: dict[str, str], problems: Problems, queryset):
        raw = values.get("id", "").strip()
        if not raw:
            return None
        try:
            pk = int(raw)
        except ValueError:
            _add(problems, "id", _("Expected a whole number."))
            return None
        found = queryset.filter(pk=pk).first()  # company-scoped: another company's id is not found
        if found is None:
            message = _("Not found: this company has no %(noun)s with the id %(id)s.")
            _add(problems, "id", message % {"noun": self.noun, "id": pk})
        return found


# --- Units (K3) --------------------------------------------------------------------------------------

UNIT_COLUMNS = ("id", *(f"name_{language}" for language in LANGUAGES), "decimals")


class _UnitRows(_Rows):
    """Columns ``id`` (optional: the unit to change), ``name_<language>`` and ``decimals`` (0, 1 or
    2; optional: an empty cell keeps a unit's, and a new unit gets 2).

    Without an id, a row that has the name of one existing unit in the same language
    (case-insensitively) changes that unit; otherwise it creates one. So a file imported twice
    changes, instead of failing on names taken by its own first import.
    """

    model = Unit
    columns = UNIT_COLUMNS
    history_fields = (*(f"name_{language}" for language in LANGUAGES), "decimals")

    def read_row(self, values, problems):
        unit = self.find_by_id(values, problems, Unit.objects.all())
        id_given = bool(values.get("id", "").strip())
        names = self.localized(values, "name", creating=unit is None)
        if unit is None and not id_given and names:
            unit = self._same_names(names)
        return unit, {"name": names, "decimals": values.get("decimals", "").strip() or None}

    @staticmethod
    def _same_names(names: dict[str, str]) -> Unit | None:
        """The one unit that has one of the row's names in the same language, if there is one."""
        matches = set()
        for language, value in names.items():
            if value.strip():
                key = services.name_key(value)
                for unit in Unit.objects.filter(**{f"name_{language}__iexact": value.strip()}):
                    if services.name_key(getattr(unit, f"name_{language}")) == key:
                        matches.add(unit)
        return matches.pop() if len(matches) == 1 else None

    def write_row(self, target, fields):
        decimals = fields["decimals"]
        if target is None:
            return services.unit_create(name=fields["name"] or {}, decimals=decimals, actor=self.actor)
        return services.unit_update(unit=target, name=fields["name"], decimals=decimals, actor=self.actor)


# --- KPIs (K1, K2, K4–K9) --------------------------------------------------------------------------

# The services' fields, each language its own column, and ``id`` to name the KPI to change.
KPI_COLUMNS = (
    "id",
    "integration_name",
    *(f"name_{language}" for language in LANGUAGES),
    *(f"description_{language}" for language in LANGUAGES),
    *(name for name in services.KPI_FIELDS if name not in ("name", "description", "integration_name")),
)
_TRUE = {"true", "1", "yes", "y", "on", "да"}
_FALSE = {"false", "0", "no", "n", "off", "нет"}


class _KpiRows(_Rows):
    """One row per KPI. ``integration_name`` is the natural key: a row whose integration name is
    an existing KPI's (case-insensitively) changes it, otherwise the row creates a KPI; an ``id``,
    when given, names the KPI to change (and may rename its integration name).

    ``unit`` is a unit's name in any language, ``department`` and ``team`` names (the department
    tells apart teams of the same name), ``owner`` a person's e-mail: all of this company.
    An empty cell clears a value; a column left out leaves it as it is.
    """

    model = Kpi
    columns = KPI_COLUMNS
    # The stored values, related rows by id.
    history_fields = (
        *(f"name_{language}" for language in LANGUAGES),
        *(f"description_{language}" for language in LANGUAGES),
        *(
            f"{field}_id" if field in ("unit", "department", "team", "owner") else field
            for field in services.KPI_FIELDS
            if field not in ("name", "description")
        ),
    )
    key_column = "integration_name"

    def read_row(self, values, problems):
        kpi = self.find_by_id(values, problems, Kpi.objects.all())
        integration_name = values.get("integration_name", "").strip()
        if kpi is None and not values.get("id", "").strip() and integration_name:
            kpi = Kpi.objects.filter(integration_name__iexact=integration_name).first()
        creating = kpi is None
        fields: dict = {}
        if "integration_name" in values or creating:
            fields["integration_name"] = integration_name
        for field_name in ("name", "description"):
            given = self.localized(values, field_name, creating=creating and field_name == "name")
            if given is not None:
                fields[field_name] = given
        for field_name, choices in services.KPI_CHOICES.items():
            if field_name not in values:
                continue
            value = values[field_name].strip()
            if value:
                fields[field_name] = self._choice(value, choices)
            elif field_name in services.OPTIONAL_CHOICES:
                fields[field_name] = ""
        if values.get("in_rating", "").strip():
            fields["in_rating"] = self._boolean(values["in_rating"].strip())
        for field_name in ("rating_units", "rating_points", "threshold_green", "threshold_amber"):
            if values.get(field_name, "").strip():
                fields[field_name] = values[field_name].strip()
        if values.get("aggregation", "").strip():
            fields["aggregation"] = self._choice(values["aggregation"].strip(), Aggregation)
        if "formula" in values:
            fields["formula"] = values["formula"].strip()  # an empty cell: not calculated (K11)
        if "unit" in values:
            fields["unit"] = self._unit(values["unit"].strip(), problems)
        department = None
        if "department" in values:
            department = fields["department"] = self._department(values["department"].strip(), problems)
        if "team" in values:
            fields["team"] = self._team(values["team"].strip(), department, problems)
        if "owner" in values:
            fields["owner"] = self._owner(values["owner"].strip(), problems)
        # A column that could not be read is left out, so the rehearsal judges the rest.
        for column in problems:
            fields.pop(column, None)
        return kpi, fields

    @staticmethod
    def _boolean(value: str):
        lowered = value.casefold()  # an xlsx boolean reads as "True" / "False"
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value  # the service refuses it ("Expected true or false.")

    @staticmethod
    def _choice(value: str, choices) -> str:
        """A choice by its value or its label, in any case; anything else for the service to refuse."""
        lowered = value.casefold()
        for choice, label in choices.choices:
            if lowered in (choice, choice.replace("_", " "), str(label).casefold()):
                return choice
        return value

    @staticmethod
    def _unit(value: str, problems: Problems):
        if not value:
            return None  # the default unit, "points"
        found = UnitName.objects.filter(key=services.name_key(value)).select_related("unit").first()
        if found is None:
            _add(problems, "unit", _("Unknown unit “%(name)s”.") % {"name": value})
            return None
        return found.unit

    @staticmethod
    def _department(value: str, problems: Problems):
        if not value:
            return None
        found = Department.objects.filter(name__iexact=value).first()
        if found is None:
            _add(problems, "department", _("Unknown department “%(name)s”.") % {"name": value})
        return found

    @staticmethod
    def _team(value: str, department, problems: Problems):
        if not value:
            return None
        teams = list(Team.objects.filter(name__iexact=value))
        if len(teams) > 1 and department is not None:
            teams = [team for team in teams if team.department_id == department.id]
        if len(teams) == 1:
            return teams[0]
        if teams:
            message = _("Several departments have a team “%(name)s”: give the department too.")
        else:
            message = _("Unknown team “%(name)s”.")
        _add(problems, "team", message % {"name": value})
        return None

    @staticmethod
    def _owner(value: str, problems: Problems):
        if not value:
            return None
        found = Member.objects.select_related("user").filter(user__email__iexact=value).first()
        if found is None:
            _add(
                problems,
                "owner",
                _("No person of this company has the e-mail “%(email)s”.") % {"email": value},
            )
        return found

    def write_row(self, target, fields):
        if target is None:
            return services.kpi_create(actor=self.actor, **fields)
        return services.kpi_update(kpi=target, actor=self.actor, **fields)
