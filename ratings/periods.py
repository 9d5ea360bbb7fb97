"""Rating periods (R6): calendar week (ISO, Monday), month, quarter, year and all time, counted by
the local day in the company's time zone."""

import datetime

from ratings.models import ALL_TIME_START, RatingPeriod


def period_start(period: str, day: datetime.date) -> datetime.date:
    if period == RatingPeriod.WEEK:
        return day - datetime.timedelta(days=day.weekday())
    if period == RatingPeriod.MONTH:
        return day.replace(day=1)
    if period == RatingPeriod.QUARTER:
        return datetime.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if period == RatingPeriod.YEAR:
        return datetime.date(day.year, 1, 1)
    return ALL_TIME_START


def period_end(period: str, start: datetime.date) -> datetime.date | None:
    """The last day of the period starting on ``start`` (None: all time has no end)."""
    if period == RatingPeriod.WEEK:
        return start + datetime.timedelta(days=6)
    months = {RatingPeriod.MONTH: 1, RatingPeriod.QUARTER: 3, RatingPeriod.YEAR: 12}.get(period)
    if months is None:
        return None
    month = start.month - 1 + months
    return datetime.date(start.year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)


def period_starts(day: datetime.date) -> list[tuple[str, datetime.date]]:
    """Every period ``day`` counts in."""
    return [(period, period_start(period, day)) for period in RatingPeriod.values]
