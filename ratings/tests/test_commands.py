"""``manage.py rebuild_ratings``: recomputing the aggregates changes nothing that was kept right."""

import datetime
import io
import random

import pytest
from django.core.management import CommandError, call_command

from kpis.tests.factories import make_active_kpi
from orgs.tenancy import company_context
from ratings import services
from ratings.models import DailyTotal, KpiAction, RatingTotal
from ratings.tests.test_recalculation import aggregates


def record_randomly(company, people: list[str], seed: int) -> None:
    rng = random.Random(seed)
    with company_context(company.id):
        make_active_kpi(company, integration_name="calls", in_rating=True, rating_units="3", rating_points=2)
        make_active_kpi(company, integration_name="notes")  # outside the rating
        start = datetime.datetime(2025, 12, 20, tzinfo=datetime.UTC)
        for _batch in range(3):
            services.actions_record(
                items=[
                    {
                        "kpi": rng.choice(["calls", "notes"]),
                        "user": rng.choice(people),
                        "value": f"{rng.randint(0, 900) / 100:.2f}",
                        "occurred_at": (
                            start + datetime.timedelta(hours=rng.randint(0, 24 * 40))
                        ).isoformat(),
                    }
                    for _item in range(40)
                ]
            )
        for action in rng.sample(list(KpiAction.objects.all()), 15):
            services.action_void(action=action, reason="test")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_rebuild_leaves_the_kept_aggregates_unchanged(company, other_company, make_member, seed):
    # given random actions, some voided, in two companies
    for each, domain in ((company, "acme"), (other_company, "globex")):
        people = [make_member(each, email=f"p{n}@{domain}.example").user.email for n in range(5)]
        record_randomly(each, people, seed)
    kept = {}
    for each in (company, other_company):
        with company_context(each.id):
            kept[each.slug] = aggregates()
    # when every company is rebuilt
    out = io.StringIO()
    call_command("rebuild_ratings", stdout=out)
    # then the totals are the same, and the command said so (nothing corrected) and how long it took
    for each in (company, other_company):
        with company_context(each.id):
            assert aggregates() == kept[each.slug]
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["acme", "globex"]
    assert all("daily totals" in line and "rating totals, 0 corrected, in" in line for line in lines)


def test_a_rebuild_corrects_wrong_missing_and_excess_totals(company, make_member):
    # given kept aggregates, then damaged: a wrong daily total, a missing rating total, an invented one
    people = [make_member(company, email=f"p{n}@acme.example").user.email for n in range(4)]
    record_randomly(company, people, 3)
    with company_context(company.id):
        kept = aggregates()
        daily = DailyTotal.objects.filter(points__gt=0).first()
        DailyTotal.objects.filter(pk=daily.pk).update(points=daily.points + 7)
        RatingTotal.objects.filter(period="month", points__gt=0).first().delete()
        RatingTotal.objects.create(
            member_id=daily.member_id, period="week", start=datetime.date(2020, 1, 6), points=5
        )
        # when the company is rebuilt
        result = services.aggregates_rebuild()
        # then the three rows are put right, and only those
        assert result.corrected == 3
        assert aggregates() == kept


def test_one_company_is_rebuilt_by_its_slug(company, other_company):
    out = io.StringIO()
    call_command("rebuild_ratings", "--company", "globex", stdout=out)
    assert out.getvalue().startswith("globex: 0 daily totals, 0 rating totals, 0 corrected, in ")
    with pytest.raises(CommandError):
        call_command("rebuild_ratings", "--company", "nobody")
