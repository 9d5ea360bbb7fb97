"""Writes of KPI definitions (PRODUCT K1–K10): the one place their rules live.

The admin, the API and imports all call these functions with plain values (strings, numbers,
dicts of languages, objects resolved through company-scoped querysets), and get the same
``DomainError`` codes of API.md back. Every input problem of a call is reported at once (one
``DomainError`` of several entries), so a form or an API answer lists them all. Callers check who
may do it (``kpis.access``) first; services check the data.

Names that must be unique across languages (K2, K3) are also kept, normalised, in ``KpiName`` and
``UnitName`` under a unique constraint: two requests racing each other cannot both win.
"""

import datetime
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kpi_platform import hooks
from kpi_platform import periods as calendar
from kpi_platform.decimals import CENT, parse_cents
from kpi_platform.errors import DomainError
from kpi_platform.ids import parse_whole
from kpi_platform.periods import period_end as calendar_period_end
from kpi_platform.periods import period_start
from kpis import links, terms
from kpis.errors import KpiErrorCode
from kpis.formulas import formula_errors, parse_formula
from kpis.history import Actor, diff, history_record, snapshot
from kpis.models import (
    DESCRIPTION_MAX_LENGTH,
    INTEGRATION_NAME_MAX_LENGTH,
    KPI_NAME_MAX_LENGTH,
    UNIT_NAME_MAX_LENGTH,
    Aggregation,
    BreakdownMethod,
    BreakdownPeriod,
    Category,
    ChangeAction,
    Direction,
    Kpi,
    KpiAudience,
    KpiHide,
    KpiKind,
    KpiName,
    KpiStatus,
    Level,
    Measure,
    Perspective,
    Target,
    TargetPart,
    TargetPeriod,
    TargetScope,
    Timing,
    Unit,
    UnitDecimals,
    UnitName,
)
from kpis.selectors import org_unit_own_kpis
from orgs.models import Company, Department, Member, Team
from orgs.tenancy import current_company_id

LANGUAGES = [code for code, _name in settings.LANGUAGES]
DEFAULT_UNIT_NAME = gettext_lazy("points")
INTEGRATION_NAME = re.compile(r"[A-Za-z0-9_]+")
MAX_RATING_POINTS = 2_147_483_647
# R2, issue 17: a ratio gives at most this many points per unit of measurement, so that the points
# of everyday values stay far inside the points column (``ratings.services.points``).
MAX_POINTS_PER_UNIT = 1_000_000
MAX_DECIMAL = Decimal("9999999999.99")  # max_digits=12, decimal_places=2


def _company() -> Company:
    return Company.objects.get(id=current_company_id())


def name_key(value: str) -> str:
    """What two names must not share (K2, K3): case, width and spacing do not count."""
    return unicodedata.normalize("NFKC", " ".join(value.split())).casefold()


class _Errors:
    """Collects every problem of one call; ``raise_if_any`` reports them together."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, code: str, message: str, field: str | None = None) -> None:
        self.errors.append(DomainError(code, message, field=field))

    def has(self, field_prefix: str) -> bool:
        return any((error.field or "").startswith(field_prefix) for error in self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainError.many(self.errors)


def _localized_input(
    errors: _Errors, field: str, values, *, current: dict[str, str], company: Company
) -> dict[str, str]:
    """Merge ``values`` (``{language: text}``) into ``current``: the given languages change,
    "" or None clears one. Languages the company has not enabled are refused."""
    merged = dict(current)
    if values is None:
        return merged
    if not isinstance(values, dict):
        errors.add(
            KpiErrorCode.INVALID, _('Expected an object keyed by language code, e.g. {"en": …}.'), field
        )
        return merged
    for language, value in values.items():
        if language not in company.languages:
            errors.add(
                KpiErrorCode.LANGUAGE_INVALID,
                _("The language “%(language)s” is not enabled for the company.") % {"language": language},
                f"{field}.{language}",
            )
            continue
        if value is not None and not isinstance(value, str):
            errors.add(KpiErrorCode.INVALID, _("Expected text."), f"{field}.{language}")
            continue
        merged[language] = (value or "").strip()
    return merged


def _localized_current(obj, field: str) -> dict[str, str]:
    return {language: (getattr(obj, f"{field}_{language}", None) or "") for language in LANGUAGES}


def _set_localized(obj, field: str, values: dict[str, str]) -> None:
    for language in LANGUAGES:
        setattr(obj, f"{field}_{language}", values.get(language) or "")


def _localized_fields(field: str) -> list[str]:
    return [f"{field}_{language}" for language in LANGUAGES]


# --- Units (K3) -----------------------------------------------------------------------------------------


def _unit_names(errors: _Errors, names: dict[str, str], company: Company, unit: Unit | None) -> None:
    for language, value in names.items():
        if language not in company.languages and not value:
            continue
        if (value or language == company.default_language) and not 1 <= len(value) <= UNIT_NAME_MAX_LENGTH:
            errors.add(
                KpiErrorCode.NAME_LENGTH,
                _("A unit's name has 1 to %(n)d characters.") % {"n": UNIT_NAME_MAX_LENGTH},
                f"name.{language}",
            )
    if errors.has("name"):
        return
    taken = set(
        UnitName.objects.filter(key__in={name_key(v) for v in names.values() if v})
        .exclude(unit_id=unit.id if unit else None)
        .values_list("key", flat=True)
    )
    for language, value in names.items():
        if value and name_key(value) in taken:
            errors.add(
                KpiErrorCode.NAME_TAKEN,
                _("Another unit is already called “%(name)s” (in some language).") % {"name": value},
                f"name.{language}",
            )


def _save_name_keys(key_model, owner_field: str, owner, names: Iterable[str], error: DomainError) -> None:
    """Replace the owner's normalised names; the unique constraint settles races."""
    keys = {name_key(name) for name in names if name}
    try:
        with transaction.atomic():
            key_model.objects.filter(**{owner_field: owner}).delete()
            key_model.objects.bulk_create([key_model(**{owner_field: owner}, key=key) for key in keys])
    except IntegrityError as integrity_error:
        raise error from integrity_error


def _unit_name_taken() -> DomainError:
    return DomainError(
        KpiErrorCode.NAME_TAKEN, _("Another unit already has this name (in some language)."), field="name"
    )


def _unit_decimals(errors: _Errors, value) -> int | None:
    """0, 1 or 2 (``UnitDecimals``), or None after adding the error."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or str(value).strip() not in {"0", "1", "2"}
    ):
        errors.add(KpiErrorCode.INVALID, _("Choose 0, 1 or 2 decimals."), "decimals")
        return None
    return int(value)


def _unit_fields() -> list[str]:
    return [*_localized_fields("name"), "decimals"]


@transaction.atomic
def unit_create(*, name: dict, decimals=None, actor: Actor = None) -> Unit:
    company = _company()
    errors = _Errors()
    names = _localized_input(errors, "name", name, current=dict.fromkeys(LANGUAGES, ""), company=company)
    places = UnitDecimals.TWO if decimals is None else _unit_decimals(errors, decimals)
    errors.raise_if_any()
    _unit_names(errors, names, company, None)
    errors.raise_if_any()
    unit = Unit(decimals=places)
    _set_localized(unit, "name", names)
    unit.save()
    _save_name_keys(UnitName, "unit", unit, names.values(), _unit_name_taken())
    history_record(obj=unit, action=ChangeAction.CREATED, actor=actor, changes=snapshot(unit, _unit_fields()))
    return unit


@transaction.atomic
def unit_update(*, unit: Unit, name: dict | None = None, decimals=None, actor: Actor = None) -> Unit:
    company = _company()
    errors = _Errors()
    before = snapshot(unit, _unit_fields())
    names = _localized_input(errors, "name", name, current=_localized_current(unit, "name"), company=company)
    places = unit.decimals if decimals is None else _unit_decimals(errors, decimals)
    errors.raise_if_any()
    if unit.is_default and names != _localized_current(unit, "name"):
        raise DomainError(
            KpiErrorCode.DEFAULT_UNIT, _("The default unit “points” cannot be renamed."), field="name"
        )
    _unit_names(errors, names, company, unit)
    errors.raise_if_any()
    _set_localized(unit, "name", names)
    unit.decimals = places
    unit.save(update_fields=[*_localized_fields("name"), "name", "decimals", "updated_at"])
    _save_name_keys(UnitName, "unit", unit, names.values(), _unit_name_taken())
    history_record(
        obj=unit,
        action=ChangeAction.CHANGED,
        actor=actor,
        changes=diff(before, snapshot(unit, _unit_fields())),
    )
    return unit


@transaction.atomic
def unit_delete(*, unit: Unit, actor: Actor = None) -> None:
    if unit.is_default:
        raise DomainError(KpiErrorCode.DEFAULT_UNIT, _("The default unit “points” cannot be deleted."))
    if Kpi.objects.filter(unit=unit).exists():
        raise DomainError(
            KpiErrorCode.UNIT_IN_USE, _("A KPI uses this unit: choose another unit for it first.")
        )
    history_record(obj=unit, action=ChangeAction.DELETED, actor=actor)
    unit.delete()


def unit_create_default(company: Company) -> Unit:
    """The company's "points" (K3), named in every platform language. A company-created hook."""
    existing = Unit.objects.filter(is_default=True).first()
    if existing is not None:
        return existing
    unit = Unit(is_default=True)
    for language in LANGUAGES:
        with translation.override(language):
            setattr(unit, f"name_{language}", str(DEFAULT_UNIT_NAME))
    unit.save()
    _save_name_keys(UnitName, "unit", unit, _localized_current(unit, "name").values(), _unit_name_taken())
    return unit


def default_unit() -> Unit:
    return Unit.objects.get(is_default=True)


# --- KPIs (K1, K2, K4–K9) -----------------------------------------------------------------------------

KPI_FIELDS = (
    "name",
    "description",
    "integration_name",
    "unit",
    "kind",
    "status",
    "in_rating",
    "rating_units",
    "rating_points",
    "level",
    "department",
    "team",
    "direction",
    "aggregation",
    "formula",
    "threshold_green",
    "threshold_amber",
    "owner",
    "category",
    "timing",
    "measure",
    "perspective",
)
KPI_CHOICES = {
    "kind": KpiKind,
    "status": KpiStatus,
    "level": Level,
    "direction": Direction,
    "category": Category,
    "timing": Timing,
    "measure": Measure,
    "perspective": Perspective,
}
OPTIONAL_CHOICES = {"category", "timing", "measure", "perspective"}
_HISTORY_FIELDS = (
    *_localized_fields("name"),
    *_localized_fields("description"),
    *(name for name in KPI_FIELDS if name not in ("name", "description")),
)


@dataclass
class Audience:
    """A KPI's access assignment (K8): empty means everyone at its level."""

    departments: list[Department] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.departments or self.teams or self.members)


def parse_rating_units(value) -> Decimal | None:
    """A positive number with at most two decimals (K4), or None."""
    return parse_cents(value, maximum=MAX_DECIMAL, positive=True)


def parse_rating_points(value) -> int | None:
    """A positive integer (K4), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):  # ASCII digits only: "²" or "٣" pass str.isdigit (issue 17)
        value = parse_whole(value.strip(), maximum=MAX_RATING_POINTS)
    elif isinstance(value, Decimal | float):  # 5.0 is 5; an infinity or NaN is no number
        value = int(value) if math.isfinite(value) and value == int(value) else None
    if isinstance(value, int) and 1 <= value <= MAX_RATING_POINTS:
        return value
    return None


def _check_ratio(errors: _Errors, kpi: Kpi, *, changed_points: bool) -> None:
    """R2: at most ``MAX_POINTS_PER_UNIT`` points per unit of measurement, refused on the points
    when they were given, else on the units."""
    if Decimal(kpi.rating_points) <= MAX_POINTS_PER_UNIT * kpi.rating_units:
        return
    message = _(
        "A KPI gives at most 1,000,000 points per unit of measurement: %(units)s = %(points)s gives more."
    ) % {"units": kpi.rating_units, "points": kpi.rating_points}
    if changed_points:
        errors.add(KpiErrorCode.RATING_POINTS_INVALID, message, "rating_points")
    else:
        errors.add(KpiErrorCode.RATING_UNITS_INVALID, message, "rating_units")


def _check_integration_name(errors: _Errors, value, kpi: Kpi | None) -> str:
    value = (value or "").strip() if isinstance(value, str | type(None)) else value
    if not isinstance(value, str):
        errors.add(KpiErrorCode.INTEGRATION_NAME_INVALID, _("Expected text."), "integration_name")
        return ""
    if not value:
        errors.add(KpiErrorCode.REQUIRED, _("The integration field name is required."), "integration_name")
    elif len(value) > INTEGRATION_NAME_MAX_LENGTH or not INTEGRATION_NAME.fullmatch(value):
        errors.add(
            KpiErrorCode.INTEGRATION_NAME_INVALID,
            _("Use only Latin letters, digits and _ (at most %(n)d characters).")
            % {"n": INTEGRATION_NAME_MAX_LENGTH},
            "integration_name",
        )
    elif Kpi.objects.filter(integration_name__iexact=value).exclude(id=kpi.id if kpi else None).exists():
        errors.add(
            KpiErrorCode.INTEGRATION_NAME_TAKEN,
            _("Another KPI already uses this integration field name."),
            "integration_name",
        )
    return value


def _check_kpi_names(errors: _Errors, names: dict[str, str], company: Company, kpi: Kpi | None) -> None:
    for language, value in names.items():
        if len(value) > KPI_NAME_MAX_LENGTH:
            errors.add(
                KpiErrorCode.NAME_LENGTH,
                _("A name has at most %(n)d characters.") % {"n": KPI_NAME_MAX_LENGTH},
                f"name.{language}",
            )
    if not names.get(company.default_language):
        errors.add(
            KpiErrorCode.REQUIRED,
            _("The name is required in the company's default language."),
            f"name.{company.default_language}",
        )
    if errors.has("name"):
        return
    taken = set(
        KpiName.objects.filter(key__in={name_key(v) for v in names.values() if v})
        .exclude(kpi_id=kpi.id if kpi else None)
        .values_list("key", flat=True)
    )
    for language, value in names.items():
        if value and name_key(value) in taken:
            errors.add(
                KpiErrorCode.NAME_TAKEN,
                _("Another KPI is already called “%(name)s” (in some language).") % {"name": value},
                f"name.{language}",
            )


def _check_description(errors: _Errors, descriptions: dict[str, str]) -> None:
    linking: dict[str, str] = {}
    for language, text in descriptions.items():
        if not text:
            continue
        field_name = f"description.{language}"
        if len(text) > DESCRIPTION_MAX_LENGTH:
            errors.add(
                KpiErrorCode.DESCRIPTION_LENGTH,
                _("The description has at most %(n)d characters.") % {"n": DESCRIPTION_MAX_LENGTH},
                field_name,
            )
            continue
        for problem in terms.find_link_errors(text):
            errors.add(KpiErrorCode.LINK_INVALID, problem.message, field_name)
        linking[field_name] = text
    _check_linked_kpis(errors, linking)


def _check_linked_kpis(errors: _Errors, texts: dict[str, str]) -> None:
    """The internal links of ``texts`` (field → terms) must name KPIs, units, people or the company
    itself of this company (scoped lookups: another company's is missing); a query per section."""
    wanted = {field_name: terms.internal_targets(text) for field_name, text in texts.items()}
    existing = links.target_names({target for targets in wanted.values() for target in targets})
    for field_name, targets in wanted.items():
        for section, target_id in sorted(set(targets) - set(existing)):
            if section == "kpis":
                message = _("The linked KPI %(id)s does not exist.") % {"id": target_id}
            else:
                message = _(
                    "The link to %(section)s %(id)s points outside this company or at nothing: "
                    "link only to this company's pages."
                ) % {"section": links.SECTION_LABELS[section], "id": target_id}
            errors.add(KpiErrorCode.LINK_INVALID, message, field_name)


def kpi_terms_link_errors(text: str) -> list[DomainError]:
    """What ``kpi_create`` and ``kpi_update`` would say of the links in ``text`` (K7), before
    anything is saved: for the terms' preview in the admin."""
    errors = _Errors()
    for problem in terms.find_link_errors(text):
        errors.add(KpiErrorCode.LINK_INVALID, problem.message, "description")
    _check_linked_kpis(errors, {"description": text})
    return errors.errors


def kpi_missing_translations(kpi: Kpi, company: Company | None = None) -> list[DomainError]:
    """What keeps a KPI from being Active (K5): each required field missing in an enabled language."""
    company = company or _company()
    names = _localized_current(kpi, "name")
    descriptions = _localized_current(kpi, "description")
    has_description = any(descriptions.get(language) for language in company.languages)
    missing = []
    for language in company.languages:
        if not names.get(language):
            missing.append(
                DomainError(
                    KpiErrorCode.INCOMPLETE,
                    _("Fill in the name in %(language)s.") % {"language": _language_name(language)},
                    field=f"name.{language}",
                )
            )
        if has_description and not descriptions.get(language):
            missing.append(
                DomainError(
                    KpiErrorCode.INCOMPLETE,
                    _("Fill in the description in %(language)s.") % {"language": _language_name(language)},
                    field=f"description.{language}",
                )
            )
    if not kpi.integration_name:
        missing.append(
            DomainError(
                KpiErrorCode.INCOMPLETE, _("Fill in the integration field name."), field="integration_name"
            )
        )
    return missing


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


def _check_level(errors: _Errors, kpi: Kpi) -> None:
    if kpi.level == Level.COMPANY:
        if kpi.department_id or kpi.team_id:
            errors.add(
                KpiErrorCode.LEVEL_INVALID,
                _("A company-level KPI belongs to no department or team."),
                "department" if kpi.department_id else "team",
            )
    elif kpi.level == Level.DEPARTMENT:
        if kpi.department_id is None:
            errors.add(KpiErrorCode.REQUIRED, _("Choose the department of this KPI."), "department")
        if kpi.team_id:
            errors.add(KpiErrorCode.LEVEL_INVALID, _("A department-level KPI belongs to no team."), "team")
    elif kpi.level == Level.TEAM and kpi.team_id is None:
        errors.add(KpiErrorCode.REQUIRED, _("Choose the team of this KPI."), "team")


def _check_audience(errors: _Errors, kpi: Kpi, audience: Audience) -> None:
    """Audience entries lie within the KPI's level (K8)."""
    if kpi.level == Level.DEPARTMENT:
        if any(d.id != kpi.department_id for d in audience.departments):
            errors.add(
                KpiErrorCode.AUDIENCE_INVALID,
                _("Choose only this KPI's own department."),
                "audience.departments",
            )
        if any(t.department_id != kpi.department_id for t in audience.teams):
            errors.add(
                KpiErrorCode.AUDIENCE_INVALID,
                _("Choose teams of this KPI's department only."),
                "audience.teams",
            )
        if any(m.department_id != kpi.department_id for m in audience.members):
            errors.add(
                KpiErrorCode.AUDIENCE_INVALID,
                _("Choose people of this KPI's department only."),
                "audience.users",
            )
    elif kpi.level == Level.TEAM:
        if audience.departments:
            errors.add(
                KpiErrorCode.AUDIENCE_INVALID,
                _("A team-level KPI cannot be assigned to departments."),
                "audience.departments",
            )
        if any(t.id != kpi.team_id for t in audience.teams):
            errors.add(KpiErrorCode.AUDIENCE_INVALID, _("Choose only this KPI's own team."), "audience.teams")
        if any(m.team_id != kpi.team_id for m in audience.members):
            errors.add(
                KpiErrorCode.AUDIENCE_INVALID, _("Choose people of this KPI's team only."), "audience.users"
            )


def _apply_kpi_fields(errors: _Errors, kpi: Kpi, fields: dict, company: Company, *, creating: bool) -> None:
    unknown = set(fields) - set(KPI_FIELDS)
    if unknown:
        raise TypeError(f"not a KPI field: {', '.join(sorted(unknown))}")

    if "name" in fields or creating:
        names = _localized_input(
            errors, "name", fields.get("name"), current=_localized_current(kpi, "name"), company=company
        )
        if not errors.has("name"):
            _check_kpi_names(errors, names, company, None if creating else kpi)
            _set_localized(kpi, "name", names)
    if "description" in fields:
        descriptions = _localized_input(
            errors,
            "description",
            fields["description"],
            current=_localized_current(kpi, "description"),
            company=company,
        )
        if not errors.has("description"):
            _check_description(errors, descriptions)
            _set_localized(kpi, "description", descriptions)
    if "integration_name" in fields or creating:
        kpi.integration_name = _check_integration_name(
            errors, fields.get("integration_name"), None if creating else kpi
        )

    for name, choices in KPI_CHOICES.items():
        if name not in fields:
            continue
        value = fields[name]
        if value in (None, "") and name in OPTIONAL_CHOICES:
            setattr(kpi, name, "")
        elif value in choices.values:
            setattr(kpi, name, value)
        else:
            errors.add(
                KpiErrorCode.INVALID,
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices.values)},
                name,
            )

    if "in_rating" in fields:
        if isinstance(fields["in_rating"], bool):
            kpi.in_rating = fields["in_rating"]
        else:
            errors.add(KpiErrorCode.INVALID, _("Expected true or false."), "in_rating")
    if "rating_units" in fields:
        units = parse_rating_units(fields["rating_units"])
        if units is None:
            errors.add(
                KpiErrorCode.RATING_UNITS_INVALID,
                _("Units of measurement: a positive number with at most two decimal places."),
                "rating_units",
            )
        else:
            kpi.rating_units = units
    if "rating_points" in fields:
        points = parse_rating_points(fields["rating_points"])
        if points is None:
            errors.add(
                KpiErrorCode.RATING_POINTS_INVALID,
                _("Rating points: a positive whole number."),
                "rating_points",
            )
        else:
            kpi.rating_points = points
    if ("rating_units" in fields or "rating_points" in fields) and not errors.has("rating_"):
        _check_ratio(errors, kpi, changed_points="rating_points" in fields)
    _apply_k11_fields(errors, kpi, fields)

    if "unit" in fields:
        if fields["unit"] is None:
            kpi.unit = default_unit()
        else:
            kpi.unit = fields["unit"]
    elif creating:
        kpi.unit = default_unit()
    if "owner" in fields:
        kpi.owner = fields["owner"]
    if "department" in fields:
        kpi.department = fields["department"]
    if "team" in fields:
        kpi.team = fields["team"]
        if kpi.team is not None:
            if (
                "department" in fields
                and fields["department"] is not None
                and fields["department"].id != kpi.team.department_id
            ):
                errors.add(KpiErrorCode.LEVEL_INVALID, _("This team is in another department."), "team")
            kpi.department_id = kpi.team.department_id
    if (
        kpi.level == Level.COMPANY
        and "level" in fields
        and "department" not in fields
        and "team" not in fields
    ):
        kpi.department, kpi.team = None, None
    _check_level(errors, kpi)


THRESHOLD_MAX = Decimal(10000)


def parse_threshold(value) -> Decimal | None:
    """A positive percentage of pace with at most two decimals, up to 10,000 (K11), or None."""
    return parse_cents(value, maximum=THRESHOLD_MAX, positive=True)


def _apply_k11_fields(errors: _Errors, kpi: Kpi, fields: dict) -> None:
    """How the KPI's values combine, its formula and its traffic-light bands (K11)."""
    if "aggregation" in fields:
        if fields["aggregation"] in Aggregation.values:
            kpi.aggregation = fields["aggregation"]
        else:
            errors.add(
                KpiErrorCode.AGGREGATION_INVALID,
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(Aggregation.values)},
                "aggregation",
            )
    if "formula" in fields:
        text = fields["formula"]
        if text is not None and not isinstance(text, str):
            errors.add(KpiErrorCode.FORMULA_INVALID, _("Expected text."), "formula")
        else:
            text = (text or "").strip()
            if text:
                try:
                    text = parse_formula(text).text
                except DomainError as error:
                    errors.errors.extend(error.errors)
            kpi.formula = text
    bands = {}
    for band in ("green", "amber"):
        name = f"threshold_{band}"
        if name in fields:
            value = parse_threshold(fields[name])
            if value is None:
                errors.add(
                    KpiErrorCode.THRESHOLDS_INVALID,
                    _("A threshold is a positive percentage of pace, at most %(n)s.") % {"n": THRESHOLD_MAX},
                    name,
                )
            bands[name] = value
    if not errors.has("threshold_"):
        for name, value in bands.items():
            setattr(kpi, name, value)
        if kpi.threshold_amber >= kpi.threshold_green:
            errors.add(
                KpiErrorCode.THRESHOLDS_INVALID,
                _("Amber must start below green (now amber from %(amber)s %%, green from %(green)s %%).")
                % {"amber": kpi.threshold_amber, "green": kpi.threshold_green},
                "threshold_amber",
            )
    if kpi.formula and kpi.in_rating and not errors.has("formula"):
        errors.add(
            KpiErrorCode.KPI_IS_CALCULATED,
            _("A calculated KPI earns no rating points: its figure comes from other KPIs."),
            "in_rating",
        )


def _check_formula_names(errors: _Errors, kpi: Kpi) -> None:
    """An Active calculated KPI names only KPIs that exist, are not archived and are not
    calculated from it (K11: no cycles)."""
    if not kpi.formula or errors.has("formula"):
        return
    others = Kpi.objects.exclude(id=kpi.id).values_list("integration_name", "formula", "archived_at")
    formulas = {name: formula or None for name, formula, _archived in others}
    usable = {name for name, _formula, archived in others if archived is None}
    formulas[kpi.integration_name] = kpi.formula
    errors.errors.extend(formula_errors(kpi.integration_name, kpi.formula, formulas, usable))


def _check_activation(errors: _Errors, kpi: Kpi, company: Company) -> None:
    if kpi.status != KpiStatus.ACTIVE:
        return
    if kpi.archived_at is not None:
        errors.add(KpiErrorCode.ARCHIVED, _("An archived KPI cannot be made active."), "status")
        return
    if errors.errors:
        return  # what is wrong is reported already; completeness is judged on valid values
    _check_formula_names(errors, kpi)
    errors.errors.extend(kpi_missing_translations(kpi, company))


def _save_kpi(kpi: Kpi, *, update_fields: list[str] | None = None) -> None:
    """Save and refresh the KPI's name keys; constraint violations from a race become the same
    errors the checks give."""
    try:
        with transaction.atomic():
            kpi.save(update_fields=update_fields)
            KpiName.objects.filter(kpi=kpi).delete()
            keys = {name_key(value) for value in _localized_current(kpi, "name").values() if value}
            KpiName.objects.bulk_create([KpiName(kpi=kpi, key=key) for key in keys])
    except IntegrityError as error:
        if Kpi.objects.filter(integration_name__iexact=kpi.integration_name).exclude(id=kpi.id).exists():
            raise DomainError(
                KpiErrorCode.INTEGRATION_NAME_TAKEN,
                _("Another KPI already uses this integration field name."),
                field="integration_name",
            ) from error
        raise DomainError(
            KpiErrorCode.NAME_TAKEN, _("Another KPI already has this name (in some language)."), field="name"
        ) from error


def _set_audience(kpi: Kpi, audience: Audience) -> None:
    KpiAudience.objects.filter(kpi=kpi).delete()
    KpiAudience.objects.bulk_create(
        [KpiAudience(kpi=kpi, department=department) for department in _unique(audience.departments)]
        + [KpiAudience(kpi=kpi, team=team) for team in _unique(audience.teams)]
        + [KpiAudience(kpi=kpi, member=member) for member in _unique(audience.members)]
    )


def _unique(objs: Iterable) -> list:
    seen, result = set(), []
    for obj in objs:
        if obj.pk not in seen:
            seen.add(obj.pk)
            result.append(obj)
    return result


def kpi_audience_get(kpi: Kpi) -> Audience:
    entries = KpiAudience.objects.filter(kpi=kpi).select_related("department", "team", "member__user")
    audience = Audience()
    for entry in entries:
        if entry.department_id:
            audience.departments.append(entry.department)
        elif entry.team_id:
            audience.teams.append(entry.team)
        else:
            audience.members.append(entry.member)
    return audience


def _audience_snapshot(audience: Audience) -> dict:
    return {
        "audience.departments": sorted(str(d) for d in audience.departments),
        "audience.teams": sorted(str(t) for t in audience.teams),
        "audience.users": sorted(str(m) for m in audience.members),
    }


@transaction.atomic
def kpi_create(*, actor: Actor = None, audience: Audience | None = None, **fields) -> Kpi:
    """Create a KPI (K1). Defaults of API.md: the "points" unit, primary, hidden, not in the
    rating, 1 unit = 1 point, company level, higher is better."""
    company = _company()
    errors = _Errors()
    kpi = Kpi()
    _apply_kpi_fields(errors, kpi, fields, company, creating=True)
    if audience is not None and not errors.has("department") and not errors.has("team"):
        _check_audience(errors, kpi, audience)
    _check_activation(errors, kpi, company)
    errors.raise_if_any()
    _save_kpi(kpi)
    if audience is not None:
        _set_audience(kpi, audience)
    changes = snapshot(kpi, _HISTORY_FIELDS)
    if audience is not None and not audience.is_empty():
        changes.update(_audience_snapshot(audience))
    history_record(obj=kpi, action=ChangeAction.CREATED, actor=actor, changes=changes)
    return kpi


def _rating_state_changed(kpi: Kpi, counted_before: bool) -> None:
    # The ratings app moves the KPI's points into or out of the rating totals (R6), in the
    # transaction of the change.
    if kpi.counts_in_rating != counted_before:
        hooks.kpi_rating_state_changed.send(kpi=kpi, counted_before=counted_before)


@transaction.atomic
def kpi_update(*, kpi: Kpi, actor: Actor = None, audience: Audience | None = None, **fields) -> Kpi:
    """Change a KPI. Localized fields merge: the languages given change, the others stay."""
    company = _company()
    errors = _Errors()
    before = snapshot(kpi, _HISTORY_FIELDS)
    counted_before = kpi.counts_in_rating
    level_before = (kpi.level, kpi.department_id, kpi.team_id)
    aggregation_before = kpi.aggregation
    _apply_kpi_fields(errors, kpi, fields, company, creating=False)
    current_audience = kpi_audience_get(kpi)
    if not errors.has("department") and not errors.has("team"):
        _check_audience(errors, kpi, audience if audience is not None else current_audience)
    _check_activation(errors, kpi, company)
    errors.raise_if_any()
    _save_kpi(kpi)
    changes = diff(before, snapshot(kpi, _HISTORY_FIELDS))
    if audience is not None:
        _set_audience(kpi, audience)
        changes.update(diff(_audience_snapshot(current_audience), _audience_snapshot(audience)))
    if (kpi.level, kpi.department_id, kpi.team_id) != level_before:
        _drop_hides_not_inherited(kpi)
    history_record(obj=kpi, action=ChangeAction.CHANGED, actor=actor, changes=changes)
    _rating_state_changed(kpi, counted_before)
    if kpi.aggregation != aggregation_before:
        # The ratings app keeps people's latest values of a level KPI (K11), in this transaction.
        hooks.kpi_aggregation_changed.send(kpi=kpi, aggregation_before=aggregation_before)
    return kpi


@transaction.atomic
def kpi_set_audience(*, kpi: Kpi, audience: Audience, actor: Actor = None) -> Kpi:
    """The access assignment step after saving a KPI (K8)."""
    return kpi_update(kpi=kpi, audience=audience, actor=actor)


@transaction.atomic
def kpi_archive(*, kpi: Kpi, actor: Actor = None) -> Kpi:
    """Retire a KPI for good: hidden, kept with its history (and, later, its actions)."""
    if kpi.archived_at is not None:
        return kpi
    counted_before = kpi.counts_in_rating
    kpi.archived_at = timezone.now()
    kpi.status = KpiStatus.HIDDEN
    kpi.save(update_fields=["archived_at", "status", "updated_at"])
    history_record(obj=kpi, action=ChangeAction.ARCHIVED, actor=actor)
    _rating_state_changed(kpi, counted_before)
    return kpi


def archive_org_unit_kpis(*, department: Department | None, teams: list[Team]) -> int:
    """O6: a deleted department's or team's own KPIs are archived (an orgs unit-deleted hook)."""
    archived = 0
    for kpi in org_unit_own_kpis(department=department, teams=teams):
        kpi_archive(kpi=kpi, actor=None)
        archived += 1
    return archived


def kpis_follow_team(*, team: Team) -> int:
    """A team moved to another department: its own KPIs are now under that department (an orgs
    team-moved hook), so the new department's managers see them and the old one's do not."""
    return Kpi.objects.filter(level=Level.TEAM, team=team).update(
        department_id=team.department_id, updated_at=timezone.now()
    )


# --- Hiding inherited KPIs (K6) ----------------------------------------------------------------------


def kpi_inherited_by(kpi: Kpi, *, department: Department | None = None, team: Team | None = None) -> bool:
    """Whether the unit gets ``kpi`` from a level above it (what it may hide)."""
    if department is not None:
        return kpi.level == Level.COMPANY
    if team is not None:
        return kpi.level == Level.COMPANY or (
            kpi.level == Level.DEPARTMENT and kpi.department_id == team.department_id
        )
    return False


def _one_org_unit(department: Department | None, team: Team | None) -> None:
    if (department is None) == (team is None):
        raise DomainError(KpiErrorCode.REQUIRED, _("Give either a department or a team."), field="department")


@transaction.atomic
def kpi_hide(
    *, kpi: Kpi, department: Department | None = None, team: Team | None = None, actor: Actor = None
) -> Kpi:
    """Hide an inherited KPI for a department (and its teams) or a team. Hiding twice is fine."""
    _one_org_unit(department, team)
    if not kpi_inherited_by(kpi, department=department, team=team):
        raise DomainError(
            KpiErrorCode.NOT_INHERITED,
            _("Only a KPI inherited from a level above can be hidden here."),
            field="department" if department is not None else "team",
        )
    _hide, created = KpiHide.objects.get_or_create(
        kpi=kpi,
        department=department,
        team=team,
        defaults={"hidden_by": actor if isinstance(actor, Member) else None},
    )
    if created:
        history_record(
            obj=kpi,
            action=ChangeAction.HIDDEN,
            actor=actor,
            changes={"unit": str(department or team)},
        )
    return kpi


@transaction.atomic
def kpi_unhide(
    *, kpi: Kpi, department: Department | None = None, team: Team | None = None, actor: Actor = None
) -> Kpi:
    _one_org_unit(department, team)
    deleted, _rows = KpiHide.objects.filter(kpi=kpi, department=department, team=team).delete()
    if deleted:
        history_record(
            obj=kpi, action=ChangeAction.UNHIDDEN, actor=actor, changes={"unit": str(department or team)}
        )
    return kpi


def _drop_hides_not_inherited(kpi: Kpi) -> None:
    for hide in KpiHide.objects.filter(kpi=kpi).select_related("team"):
        if not kpi_inherited_by(kpi, department=hide.department, team=hide.team):
            hide.delete()


# --- Targets (K9) --------------------------------------------------------------------------------------


def period_end(period: str, start: datetime.date) -> datetime.date:
    """The last day of the target period (month, quarter, year) that starts on ``start``."""
    return calendar_period_end(period, start)


def is_period_start(period: str, start: datetime.date) -> bool:
    return period_start(period, start) == start


def parse_target_value(value) -> Decimal | None:
    """A number ≥ 0 with at most two decimals, or None."""
    return parse_cents(value, maximum=Decimal("999999999999.99"))


def _target_holder(errors: _Errors, kpi: Kpi, scope: str, department, team, member) -> str:
    """Check the holder fits the scope and the KPI's level; return the scope key."""
    holders = {TargetScope.DEPARTMENT: department, TargetScope.TEAM: team, TargetScope.USER: member}
    if scope not in TargetScope.values:
        errors.add(KpiErrorCode.INVALID, _("Choose company, department, team or user."), "scope")
        return ""
    for other_scope, holder in holders.items():
        if other_scope != scope and holder is not None:
            errors.add(
                KpiErrorCode.SCOPE_INVALID,
                _("Give only the %(scope)s of this target.") % {"scope": scope},
                "user" if other_scope == TargetScope.USER else str(other_scope),
            )
    field_name = "user" if scope == TargetScope.USER else str(scope)
    holder = holders.get(scope)
    if scope != TargetScope.COMPANY and holder is None:
        errors.add(KpiErrorCode.REQUIRED, _("Choose who this target is for."), field_name)
        return ""
    if errors.errors:
        return ""
    fits = {
        Level.COMPANY: True,
        Level.DEPARTMENT: (
            (scope == TargetScope.DEPARTMENT and holder.id == kpi.department_id)
            or (scope == TargetScope.TEAM and holder.department_id == kpi.department_id)
            or (scope == TargetScope.USER and holder.department_id == kpi.department_id)
        ),
        Level.TEAM: (
            (scope == TargetScope.TEAM and holder.id == kpi.team_id)
            or (scope == TargetScope.USER and holder.team_id == kpi.team_id)
        ),
    }[kpi.level]
    if not fits:
        errors.add(
            KpiErrorCode.SCOPE_INVALID,
            _("This target is outside the KPI's level: choose its own unit or someone in it."),
            field_name,
        )
        return ""
    return "company" if scope == TargetScope.COMPANY else f"{scope}:{holder.pk}"


_TARGET_HISTORY_FIELDS = ("kpi", "period", "start", "scope", "department", "team", "member", "value")


@transaction.atomic
def target_create(
    *,
    kpi: Kpi,
    period: str,
    start: datetime.date,
    value,
    scope: str = TargetScope.COMPANY,
    department: Department | None = None,
    team: Team | None = None,
    member: Member | None = None,
    actor: Actor = None,
) -> Target:
    errors = _Errors()
    if period not in TargetPeriod.values:
        errors.add(KpiErrorCode.INVALID, _("Choose month, quarter or year."), "period")
    elif not isinstance(start, datetime.date) or not is_period_start(period, start):
        errors.add(
            KpiErrorCode.START_INVALID,
            _("A target starts on the first day of its month, quarter or year."),
            "start",
        )
    elif not calendar.in_range(start):  # its period, breakdown and pacing stay inside the calendar
        errors.add(KpiErrorCode.START_INVALID, calendar.range_message(), "start")
    number = parse_target_value(value)
    if number is None:
        errors.add(
            KpiErrorCode.VALUE_INVALID, _("A target is a number ≥ 0 with at most two decimals."), "value"
        )
    scope_key = _target_holder(errors, kpi, scope, department, team, member)
    errors.raise_if_any()
    target = Target(
        kpi=kpi,
        period=period,
        start=start,
        scope=scope,
        department=department,
        team=team,
        member=member,
        scope_key=scope_key,
        value=number,
    )
    exists = DomainError(
        KpiErrorCode.TARGET_EXISTS,
        _("This KPI already has a target for this period and holder."),
        field="start",
    )
    if Target.objects.filter(kpi=kpi, period=period, start=start, scope_key=scope_key).exists():
        raise exists
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as error:
        raise exists from error
    history_record(
        obj=target,
        action=ChangeAction.CREATED,
        actor=actor,
        kpi=kpi,
        changes=snapshot(target, _TARGET_HISTORY_FIELDS),
    )
    return target


@transaction.atomic
def target_update(*, target: Target, value, actor: Actor = None) -> Target:
    """Change a target's value. An even or by-days breakdown follows; one made by hand must be
    given again (``target_break_down``) when it no longer adds up."""
    number = parse_target_value(value)
    if number is None:
        raise DomainError(
            KpiErrorCode.VALUE_INVALID,
            _("A target is a number ≥ 0 with at most two decimals."),
            field="value",
        )
    before = snapshot(target, _TARGET_HISTORY_FIELDS)
    if number == target.value:
        return target
    if target.breakdown_method == BreakdownMethod.MANUAL:
        raise DomainError(
            KpiErrorCode.BREAKDOWN_MISMATCH,
            _("This target is broken down by hand: give the new parts along with the new value."),
            field="value",
        )
    target.value = number
    target.save(update_fields=["value", "updated_at"])
    if target.breakdown_method:
        _write_parts(target, target.breakdown_period, target.breakdown_method, None)
    history_record(
        obj=target,
        action=ChangeAction.CHANGED,
        actor=actor,
        kpi=target.kpi,
        changes=diff(before, snapshot(target, _TARGET_HISTORY_FIELDS)),
    )
    return target


@transaction.atomic
def target_save(
    *,
    target: Target | None = None,
    kpi: Kpi | None = None,
    period: str = "",
    start: datetime.date | None = None,
    scope: str = TargetScope.COMPANY,
    department: Department | None = None,
    team: Team | None = None,
    member: Member | None = None,
    value,
    into: str = "",
    method: str = "",
    values: list | None = None,
    changed: bool = True,
    actor: Actor = None,
) -> Target:
    """Create a target (no ``target``) or change the value of one, with its breakdown (K9), as one
    form gives them all: ``into`` or ``method`` break it down, neither clears a breakdown it had.
    ``changed`` False says the value and the breakdown are as the target has them, so a breakdown
    is not written again. The history (K10) is the one the services called write."""
    if target is None:
        target = target_create(
            kpi=kpi,
            period=period,
            start=start,
            value=value,
            scope=scope,
            department=department,
            team=team,
            member=member,
            actor=actor,
        )
        if into or method:
            target = target_break_down(target=target, into=into, method=method, values=values, actor=actor)
        return target
    if into or method:
        if changed:
            target = target_break_down(
                target=target, into=into, method=method, values=values, new_value=value, actor=actor
            )
        return target
    if target.breakdown_method:
        target = target_clear_breakdown(target=target, actor=actor)
    return target_update(target=target, value=value, actor=actor)


@transaction.atomic
def target_delete(*, target: Target, actor: Actor = None) -> None:
    history_record(obj=target, action=ChangeAction.DELETED, actor=actor, kpi=target.kpi)
    target.delete()


def breakdown_slots(
    period: str, start: datetime.date, into: str
) -> list[tuple[datetime.date, datetime.date]]:
    """The shorter periods of a target's period: quarters, months, or ISO weeks cut at its ends."""
    end = period_end(period, start)
    slots = []
    if into == BreakdownPeriod.WEEK:
        cursor = start
        while cursor <= end:
            week_end = min(cursor + datetime.timedelta(days=6 - cursor.weekday()), end)
            slots.append((cursor, week_end))
            cursor = week_end + datetime.timedelta(days=1)
        return slots
    step = TargetPeriod.QUARTER if into == BreakdownPeriod.QUARTER else TargetPeriod.MONTH
    cursor = start
    while cursor <= end:
        slot_end = period_end(step, cursor)
        slots.append((cursor, slot_end))
        cursor = slot_end + datetime.timedelta(days=1)
    return slots


def split_value(value: Decimal, weights: list[int]) -> list[Decimal]:
    """Split ``value`` by ``weights`` into cents that add up exactly (cumulative rounding)."""
    total = sum(weights)
    parts, cumulative, previous = [], 0, Decimal("0")
    for weight in weights:
        cumulative += weight
        upto = (value * cumulative / total).quantize(CENT, rounding=ROUND_HALF_UP)
        parts.append(upto - previous)
        previous = upto
    return parts


_SHORTER = {
    TargetPeriod.YEAR: {BreakdownPeriod.QUARTER, BreakdownPeriod.MONTH, BreakdownPeriod.WEEK},
    TargetPeriod.QUARTER: {BreakdownPeriod.MONTH, BreakdownPeriod.WEEK},
    TargetPeriod.MONTH: {BreakdownPeriod.WEEK},
}


def _write_parts(target: Target, into: str, method: str, values: list | None) -> list[TargetPart]:
    slots = breakdown_slots(target.period, target.start, into)
    if method == BreakdownMethod.EVEN:
        amounts = split_value(target.value, [1] * len(slots))
    elif method == BreakdownMethod.DAYS:
        amounts = split_value(target.value, [(end - start).days + 1 for start, end in slots])
    else:
        amounts = values
    TargetPart.objects.filter(target=target).delete()
    return TargetPart.objects.bulk_create(
        [
            TargetPart(target=target, start=start, end=end, value=amount)
            for (start, end), amount in zip(slots, amounts, strict=True)
        ]
    )


@transaction.atomic
def target_break_down(
    *, target: Target, into: str, method: str, values: list | None = None, new_value=None, actor: Actor = None
) -> Target:
    """Break a target down into shorter periods (K9): evenly, by number of days, or by hand
    (``values``, one per period, adding up to the target; ``new_value`` changes the target too)."""
    if new_value is not None:
        number = parse_target_value(new_value)
        if number is None:
            raise DomainError(
                KpiErrorCode.VALUE_INVALID,
                _("A target is a number ≥ 0 with at most two decimals."),
                field="value",
            )
    else:
        number = target.value
    if into not in _SHORTER.get(target.period, set()):
        raise DomainError(
            KpiErrorCode.BREAKDOWN_INVALID,
            _("Break a target down into periods shorter than its own."),
            field="into",
        )
    if method not in BreakdownMethod.values:
        raise DomainError(KpiErrorCode.INVALID, _("Choose even, days or manual."), field="method")
    parsed = None
    if method == BreakdownMethod.MANUAL:
        slots = breakdown_slots(target.period, target.start, into)
        parsed = [parse_target_value(value) for value in (values or [])]
        if len(parsed) != len(slots) or any(value is None for value in parsed):
            raise DomainError(
                KpiErrorCode.BREAKDOWN_MISMATCH,
                _("Give %(n)d values ≥ 0 with at most two decimals, one per period.") % {"n": len(slots)},
                field="values",
            )
        if sum(parsed) != number:
            raise DomainError(
                KpiErrorCode.BREAKDOWN_MISMATCH,
                _("The parts add up to %(sum)s, not to the target %(value)s.")
                % {"sum": sum(parsed), "value": number},
                field="values",
            )
    before = snapshot(target, (*_TARGET_HISTORY_FIELDS, "breakdown_period", "breakdown_method"))
    target.value, target.breakdown_period, target.breakdown_method = number, into, method
    target.save(update_fields=["value", "breakdown_period", "breakdown_method", "updated_at"])
    parts = _write_parts(target, into, method, parsed)
    changes = diff(
        before, snapshot(target, (*_TARGET_HISTORY_FIELDS, "breakdown_period", "breakdown_method"))
    )
    changes["parts"] = [[str(part.start), str(part.value)] for part in parts]
    history_record(obj=target, action=ChangeAction.CHANGED, actor=actor, kpi=target.kpi, changes=changes)
    return target


@transaction.atomic
def target_clear_breakdown(*, target: Target, actor: Actor = None) -> Target:
    if not target.breakdown_method:
        return target
    TargetPart.objects.filter(target=target).delete()
    target.breakdown_period = target.breakdown_method = ""
    target.save(update_fields=["breakdown_period", "breakdown_method", "updated_at"])
    history_record(
        obj=target,
        action=ChangeAction.CHANGED,
        actor=actor,
        kpi=target.kpi,
        changes={"breakdown": ["…", None]},
    )
    return target
