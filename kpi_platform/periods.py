"""Calendar periods shared by targets (K9) and ratings (R6): ISO weeks (Monday), months, quarters
and years, as dates. Time zones are the caller's business: these take local dates.

The days the platform reckons with (issue 17) are ``FIRST_DAY`` to ``LAST_DAY``: every date a
query, a range or a target names is checked here (``check_day``) and refused with one message
otherwise. The first is the first day an action may be dated (the recording service refuses
earlier ones); the last leaves every period, the one after it and a trend's windows well inside
Python's calendar, which ends in year 9999 (a period there answered 500).
"""

import datetime

from django.utils.translation import gettext as _

from kpi_platform.errors import CommonErrorCode, DomainError

FIRST_DAY = datetime.date(1971, 1, 1)
LAST_DAY = datetime.date(2999, 12, 31)

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def period_start(period: str, day: datetime.date) -> datetime.date:
    """The first day of the week, month, quarter or year that ``day`` is in."""
    if period == "week":
        return day - datetime.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return datetime.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if period == "year":
        return datetime.date(day.year, 1, 1)
    raise ValueError(f"unknown period {period!r}")


def period_end(period: str, start: datetime.date) -> datetime.date:
    """The last day of the period that starts on ``start``."""
    if period == "week":
        return start + datetime.timedelta(days=6)
    month = start.month - 1 + _MONTHS[period]
    return datetime.date(start.year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)


def in_range(day: datetime.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def range_message() -> str:
    return _("Give a date from %(first)s to %(last)s.") % {
        "first": FIRST_DAY.isoformat(),
        "last": LAST_DAY.isoformat(),
    }


def check_day(day: datetime.date, field: str, code: str = CommonErrorCode.INVALID) -> datetime.date:
    """``day`` if the platform reckons with it; otherwise a ``DomainError`` on ``field``."""
    if not in_range(day):
        raise DomainError(code, range_message(), field=field)
    return day
