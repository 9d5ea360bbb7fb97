"""Points (R2): what one action is worth. Whether its KPI counts in the rating at all (R6) is
``Kpi.counts_in_rating`` (and ``Kpi.objects.counting_in_rating()`` in SQL), in ``kpis.models``.

How large points may grow (issue 17). One action gives at most ``MAX_POINTS``, as large as a value
may be (numeric(14, 2)), well inside the points column (numeric(16, 2)); a KPI's ratio gives at
most ``kpis.services.MAX_POINTS_PER_UNIT`` points per unit of measurement. The totals that sum
points, a person's day on a KPI and the company's and a department's days (numeric(20, 2)), and a
person's period total, whose rank is kept in a bigint of cents (about 9.2 × 10^16 points), hold
at least 92,000 of the largest actions each; a batch that would still take one past its column is
refused as ``value_invalid`` too (``ratings.services.aggregates``), never a 500.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from kpi_platform.decimals import CENT
from kpi_platform.errors import DomainError
from kpis.models import Kpi
from ratings.errors import RatingErrorCode

MAX_POINTS = Decimal("999999999999.99")


def compute_points(value: Decimal, *, in_rating: bool, rating_units: Decimal, rating_points: int) -> Decimal:
    """R2: value × M / N, rounded half-up to two decimals; no points outside the rating (K4). More
    than ``MAX_POINTS`` is refused (``value_invalid``)."""
    if not in_rating:
        return Decimal("0.00")
    points = value * rating_points / rating_units
    if points > MAX_POINTS:
        raise DomainError(
            RatingErrorCode.VALUE_INVALID,
            _(
                "This value gives %(points)s points with the KPI's ratio (%(units)s = %(rating_points)s); "
                "an action gives at most 999,999,999,999.99 points."
            )
            % {"points": f"{points:,.0f}", "units": rating_units, "rating_points": rating_points},
            field="value",
        )
    return points.quantize(CENT, rounding=ROUND_HALF_UP)


def kpi_points(kpi: Kpi, value: Decimal) -> Decimal:
    """The points of ``value`` with ``kpi``'s ratio as it is now (R2)."""
    return compute_points(
        value, in_rating=kpi.in_rating, rating_units=kpi.rating_units, rating_points=kpi.rating_points
    )
