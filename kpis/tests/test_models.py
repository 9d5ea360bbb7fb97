"""Rules of one KPI row that SQL must apply the same way (R6)."""

import itertools

from django.utils import timezone

from kpis.models import Kpi, KpiStatus
from kpis.tests.factories import make_kpi


def test_a_kpi_counts_in_the_rating_on_its_row_exactly_when_the_queryset_says_so(in_company):
    # given a KPI in every combination of the three inputs of R6: its status, "in the rating" and
    # archived (written to the rows directly: the services never archive an Active KPI)
    combinations = list(itertools.product(KpiStatus.values, [True, False], [False, True]))
    for status, in_rating, archived in combinations:
        kpi = make_kpi(in_rating=in_rating)
        Kpi.objects.filter(id=kpi.id).update(status=status, archived_at=timezone.now() if archived else None)

    # when the rule is read on each row and asked of the database
    kpis = list(Kpi.objects.order_by("id"))
    on_the_rows = {kpi.id for kpi in kpis if kpi.counts_in_rating}
    in_sql = set(Kpi.objects.counting_in_rating().values_list("id", flat=True))

    # then both pick the same KPIs: only the Active one in the rating and not archived
    assert len(kpis) == len(combinations) == 2 * len(KpiStatus.values) * 2
    assert in_sql == on_the_rows
    assert [(kpi.status, kpi.in_rating, kpi.archived_at) for kpi in kpis if kpi.id in in_sql] == [
        (KpiStatus.ACTIVE, True, None)
    ]
