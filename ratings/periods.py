"""Rating periods (R6): calendar week (ISO, Monday), month, quarter, year and all time, counted by
the local day in the company's time zone."""

import datetime
import functools

from kpi_platform import periods as calendar
from ratings.models import ALL_TIME_START, LATEST_PERIODS, RatingPeriod


def period_start(period: str, day: datetime.date) -> datetime.date:
    if period == RatingPeriod.ALL:
        return ALL_TIME_START
    return calendar.period_start(period, day)


def period_end(period: str, start: datetime.date) -> datetime.date | None:
    """The last day of the period starting on ``start`` (None: all time has no end)."""
    if period == RatingPeriod.ALL:
        return None
    return calendar.period_end(period, start)


@functools.lru_cache(maxsize=4096)
def period_starts(day: datetime.date) -> tuple[tuple[str, datetime.date], ...]:
    """Every period ``day`` counts in. Cached: a batch of thousands of actions spans a few days."""
    return tuple((period, period_start(period, day)) for period in RatingPeriod.values)


@functools.lru_cache(maxsize=4096)
def latest_period_starts(day: datetime.date) -> tuple[tuple[str, datetime.date], ...]:
    """The periods a level KPI's latest value is kept for (``PeriodLatest``) that ``day`` is in."""
    return tuple((period, calendar.period_start(period, day)) for period in LATEST_PERIODS)
