"""The date-range leaderboard's cover of a range by whole periods and edge days (R6)."""

import datetime
import random

import pytest

from kpi_platform.periods import period_end
from ratings.selectors import range_cover


def _days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


@pytest.mark.parametrize("seed", range(5))
def test_a_range_is_covered_by_whole_periods_and_days_exactly_once(seed):
    rng = random.Random(seed)
    for _ in range(200):
        start = datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(900))
        end = start + datetime.timedelta(days=rng.randrange(500))
        periods, days = range_cover(start, end)
        covered = list(days)
        for kind, first in periods:
            covered += _days(first, period_end(kind, first))
        assert sorted(covered) == _days(start, end)


@pytest.mark.parametrize(
    ("start", "end", "periods", "days"),
    [
        # 45 days: the whole weeks inside, and the days at the edges
        (datetime.date(2026, 10, 10), datetime.date(2026, 11, 23), 6, 3),
        # a calendar year is one row per person
        (datetime.date(2025, 1, 1), datetime.date(2025, 12, 31), 1, 0),
        # a quarter and a month across a year's end
        (datetime.date(2025, 10, 1), datetime.date(2026, 1, 31), 2, 0),
        (datetime.date(2026, 11, 23), datetime.date(2026, 11, 23), 0, 1),
    ],
)
def test_a_range_reads_the_largest_periods_that_fit(start, end, periods, days):
    covered_periods, covered_days = range_cover(start, end)
    assert (len(covered_periods), len(covered_days)) == (periods, days)
