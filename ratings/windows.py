"""The days, moments and units a query asks about, parsed once for the pages and the API (API.md
"Pages", "Actions" and "Ratings"): a period (week, month, quarter, year; the API's leaderboard also
all time) and a day in it, or a range ``from``–``to``; a moment (a time, or a date's local
midnight); a scope (the company, ``department:ID`` or ``team:ID``).

The pages and the API were published with slightly different rules and words for the same query,
and both are kept as they are: ``PAGES`` and ``API`` below list every difference. Their dates are
the same: those the platform reckons with (``kpi_platform.periods.check_day``, issue 17). A refusal
is a ``DomainError`` with the same code and field everywhere.
"""

import datetime
from dataclasses import dataclass, replace

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kpi_platform import periods as calendar
from kpi_platform.errors import DomainError
from kpi_platform.ids import parse_id
from orgs.models import TrackingFrequency
from ratings.errors import RatingErrorCode
from ratings.models import RatingPeriod
from ratings.selectors import Scope

FIXED_PERIODS = ("week", "month", "quarter", "year")
CUSTOM = "custom"
MAX_RANGE_DAYS = 731  # a custom range on a page: at most two years, so its charts stay readable


@dataclass(frozen=True)
class Window:
    """The days a page shows: a calendar week (ISO), month, quarter or year, or a custom range;
    ``today`` is the company's local date, for pacing."""

    kind: str
    start: datetime.date
    end: datetime.date
    today: datetime.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def elapsed_end(self) -> datetime.date | None:
        """The last day that has begun (None: the window is in the future)."""
        if self.today < self.start:
            return None
        return min(self.today, self.end)

    def shifted(self, back: int) -> "Window":
        """The window ``back`` periods (or range lengths) earlier."""
        if self.kind == CUSTOM:
            delta = datetime.timedelta(days=self.days * back)
            return Window(CUSTOM, self.start - delta, self.end - delta, self.today)
        start = self.start
        for _step in range(back):
            start = calendar.period_start(self.kind, start - datetime.timedelta(days=1))
        return window_of(self.kind, start, self.today)

    def following(self) -> "Window":
        """The next window of the same kind (or range length)."""
        if self.kind == CUSTOM:
            delta = datetime.timedelta(days=self.days)
            return Window(CUSTOM, self.start + delta, self.end + delta, self.today)
        return window_of(self.kind, self.end + datetime.timedelta(days=1), self.today)

    @property
    def query(self) -> dict[str, str]:
        """The query parameters that show this window again (API.md "Pages")."""
        if self.kind == CUSTOM:
            return {"from": self.start.isoformat(), "to": self.end.isoformat()}
        return {"period": self.kind, "date": self.start.isoformat()}

    @property
    def label(self) -> str:
        if self.kind == "month":
            return date_format(self.start, "F Y")
        if self.kind == "quarter":
            return _("Q%(quarter)d %(year)d") % {
                "quarter": (self.start.month - 1) // 3 + 1,
                "year": self.start.year,
            }
        if self.kind == "year":
            return str(self.start.year)
        if self.start == self.end:
            return date_format(self.start, "DATE_FORMAT")
        return f"{date_format(self.start, 'DATE_FORMAT')} – {date_format(self.end, 'DATE_FORMAT')}"

    @property
    def short_label(self) -> str:
        """For a chart's axis."""
        if self.kind == "month":
            return date_format(self.start, "M Y")
        if self.kind in ("quarter", "year"):
            return self.label
        return date_format(self.start, "SHORT_DATE_FORMAT")


def window_of(kind: str, day: datetime.date, today: datetime.date) -> Window:
    start = calendar.period_start(kind, day)
    return Window(kind, start, calendar.period_end(kind, start), today)


# --- Periods and ranges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRules:
    """What an interface accepts in a period query and how it words a refusal."""

    periods: tuple[str, ...]  # the fixed periods it knows; the first error names them
    custom_period: bool  # ``period=custom`` asks for a range (the pages' period picker sends it)
    range_refuses_date: bool  # a range with a ``date`` as well is refused, not the date ignored
    max_range_days: int | None
    both: str  # the messages, marked for translation and translated when raised
    reversed: str
    period_invalid: str


PAGES = QueryRules(
    periods=FIXED_PERIODS,
    custom_period=True,
    range_refuses_date=False,
    max_range_days=MAX_RANGE_DAYS,
    both=gettext_noop("Give either a period and a date or a range (from, to)."),
    reversed=gettext_noop("The range starts after it ends."),
    period_invalid=gettext_noop("A period is a week, month, quarter, year or a range."),
)
API = QueryRules(
    periods=tuple(RatingPeriod.values),
    custom_period=False,
    range_refuses_date=True,
    max_range_days=None,
    both=gettext_noop("Give either a period and a date or from and to."),
    reversed=gettext_noop("`from` is after `to`."),
    period_invalid=gettext_noop("A period is one of: %(periods)s."),
)

# A KPI's figures (K11): the API's rules, over the periods a target has.
FIGURES = replace(API, periods=("week", "month", "quarter", "year"))


@dataclass(frozen=True)
class PeriodQuery:
    """What a query asks for: a fixed period (``kind``) and a day in it (None: today), or a range
    (``kind`` CUSTOM) from ``start`` to ``end``, inclusive."""

    kind: str
    day: datetime.date | None = None
    start: datetime.date | None = None
    end: datetime.date | None = None


def parse_period(params, *, rules: QueryRules = PAGES, default: str = "month") -> PeriodQuery:
    """``?period=&date=`` or ``?from=&to=``, from a query string or an API's validated filters."""
    period = (params.get("period") or "").strip()
    start_text, end_text = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    date_text = (params.get("date") or "").strip()
    if start_text or end_text or (rules.custom_period and period == CUSTOM):
        allowed = ("", CUSTOM) if rules.custom_period else ("",)
        if period not in allowed or (rules.range_refuses_date and date_text):
            raise DomainError(RatingErrorCode.INVALID, _(rules.both), field="from")
        start, end = parse_day(start_text, "from"), parse_day(end_text, "to")
        if start > end:
            raise DomainError(RatingErrorCode.INVALID, _(rules.reversed), field="from")
        if rules.max_range_days is not None and (end - start).days + 1 > rules.max_range_days:
            raise DomainError(
                RatingErrorCode.INVALID,
                _("A range is at most %(days)d days.") % {"days": rules.max_range_days},
                field="to",
            )
        return PeriodQuery(CUSTOM, start=start, end=end)
    period = period or default
    if period not in rules.periods:
        raise DomainError(
            RatingErrorCode.PERIOD_INVALID,
            _(rules.period_invalid) % {"periods": ", ".join(rules.periods)},
            field="period",
        )
    return PeriodQuery(period, day=parse_day(date_text, "date") if date_text else None)


def window_from_query(params, *, today: datetime.date, default: str = "month") -> Window:
    """The window a page's query asks for (API.md "Pages"); bad input raises ``DomainError``
    with a message for the page."""
    asked = parse_period(params, rules=PAGES, default=default)
    if asked.kind == CUSTOM:
        return Window(CUSTOM, asked.start, asked.end, today)
    return window_of(asked.kind, asked.day or today, today)


# --- The tracking frequencies (O1): the default period of the pages ----------------------------------


def frequency_window(frequency: str, today: datetime.date, day: datetime.date | None = None) -> Window:
    """The period of a tracking frequency (O1) holding ``day`` (default: today): that day, its
    week, month or quarter."""
    day = day or today
    if frequency == TrackingFrequency.DAILY:
        return Window(CUSTOM, day, day, today)
    kind = {TrackingFrequency.WEEKLY: "week", TrackingFrequency.QUARTERLY: "quarter"}.get(frequency, "month")
    return window_of(kind, day, today)


def names_period(params) -> bool:
    """Whether a page's query names its period (``period``, ``from`` or ``to``): then it holds for
    the whole page; else each kind of KPI has its own (``kind_windows``)."""
    return any((params.get(name) or "").strip() for name in ("period", "from", "to"))


def kind_windows(params, *, today: datetime.date, primary: str, secondary: str) -> tuple[Window, Window]:
    """The windows of a page's primary and of its secondary KPIs: the period its query names, for
    both; else the current period of each kind's tracking frequency (``primary``, ``secondary``),
    or the one holding ``?date=``. Bad input raises ``DomainError`` as ``window_from_query``."""
    if names_period(params):
        window = window_from_query(params, today=today)
        return window, window
    date_text = (params.get("date") or "").strip()
    day = parse_day(date_text, "date") if date_text else today
    return frequency_window(primary, today, day), frequency_window(secondary, today, day)


def parse_day(text: str | None, name: str) -> datetime.date:
    """A date from the days the platform reckons with (``kpi_platform.periods.FIRST_DAY`` to
    ``LAST_DAY``, for the pages and the API alike)."""
    try:
        day = parse_date((text or "").strip())
    except ValueError:
        day = None
    if day is None:
        raise DomainError(RatingErrorCode.INVALID, _("Give a date as YYYY-MM-DD."), field=name)
    return calendar.check_day(day, name, RatingErrorCode.INVALID)


def parse_moment(value: str, name: str, zone: datetime.tzinfo, *, end: bool) -> datetime.datetime:
    """A time, or a date meaning its local midnight (``end``: the midnight after it)."""
    value = value.strip()
    try:
        day = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        calendar.check_day(day, name, RatingErrorCode.INVALID)
        if end:
            day += datetime.timedelta(days=1)
        return datetime.datetime.combine(day, datetime.time(), tzinfo=zone)
    if moment is not None:
        calendar.check_day(moment.date(), name, RatingErrorCode.INVALID)
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=zone)
    raise DomainError(
        RatingErrorCode.INVALID, _("Give a date (YYYY-MM-DD) or a time (ISO 8601)."), field=name
    )


# --- Scopes -----------------------------------------------------------------------------------------


def parse_scope(value: str | None) -> Scope:
    """``company`` (the default), ``department:ID`` or ``team:ID``; whether the viewer sees the
    unit is the caller's business (a page answers 404, the API ``not_found``)."""
    kind, _sep, raw_id = (value or "company").strip().partition(":")
    if kind == "company" and not raw_id:
        return Scope()
    org_unit_id = parse_id(raw_id)
    if kind not in ("department", "team") or org_unit_id is None:
        raise DomainError(
            RatingErrorCode.SCOPE_INVALID, _("A scope is company, department:ID or team:ID."), field="scope"
        )
    return Scope(kind, org_unit_id)


def parse_holder_scope(value: str | None) -> tuple[str, int | None]:
    """``parse_scope``'s scopes or a person, ``user:ID`` (the figures API, K11): (kind, id)."""
    kind, _sep, raw_id = (value or "company").strip().partition(":")
    if kind != "user":
        scope = parse_scope(value)
        return scope.kind, scope.org_unit_id
    holder_id = parse_id(raw_id)
    if holder_id is None:
        raise DomainError(
            RatingErrorCode.SCOPE_INVALID,
            _("A scope is company, department:ID, team:ID or user:ID."),
            field="scope",
        )
    return kind, holder_id
