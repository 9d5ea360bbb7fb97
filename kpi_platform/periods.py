"""Calendar periods shared by targets (K9) and ratings (R6): ISO weeks (Monday), months, quarters
and years, as dates. Time zones are the caller's business: these take local dates."""

import datetime

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
