"""Points (R2): what one action is worth. Whether its KPI counts in the rating at all (R6) is
``Kpi.counts_in_rating`` (and ``Kpi.objects.counting_in_rating()`` in SQL), in ``kpis.models``."""

from decimal import ROUND_HALF_UP, Decimal

from kpi_platform.decimals import CENT
from kpis.models import Kpi


def compute_points(value: Decimal, *, in_rating: bool, rating_units: Decimal, rating_points: int) -> Decimal:
    """R2: value × M / N, rounded half-up to two decimals; no points outside the rating (K4)."""
    if not in_rating:
        return Decimal("0.00")
    return (value * rating_points / rating_units).quantize(CENT, rounding=ROUND_HALF_UP)


def kpi_points(kpi: Kpi, value: Decimal) -> Decimal:
    """The points of ``value`` with ``kpi``'s ratio as it is now (R2)."""
    return compute_points(
        value, in_rating=kpi.in_rating, rating_units=kpi.rating_units, rating_points=kpi.rating_points
    )
