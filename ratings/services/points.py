"""Points (R2): what one action is worth, and which KPIs count in the rating (R6)."""

from decimal import ROUND_HALF_UP, Decimal

from kpi_platform.decimals import CENT
from kpis.models import Kpi, KpiStatus


def compute_points(value: Decimal, *, in_rating: bool, rating_units: Decimal, rating_points: int) -> Decimal:
    """R2: value × M / N, rounded half-up to two decimals; no points outside the rating (K4)."""
    if not in_rating:
        return Decimal("0.00")
    return (value * rating_points / rating_units).quantize(CENT, rounding=ROUND_HALF_UP)


def counts_in_rating(kpi: Kpi) -> bool:
    """R6: only Active KPIs in the rating count."""
    return kpi.status == KpiStatus.ACTIVE and kpi.in_rating and kpi.archived_at is None
