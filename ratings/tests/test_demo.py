"""The actions step of the demo company (``ratings.demo.demo_actions``, run by ``seed_demo``)."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.db.models import Count
from django.utils import timezone

from conftest import DEMO_MOMENT
from kpi_platform import hooks
from kpis.demo import demo_kpis
from kpis.selectors import kpi_list_for_member
from orgs.demo import MEMBER_EMAIL, demo_seed
from orgs.models import Member
from orgs.tenancy import company_context
from ratings.demo import EXTERNAL_ID_PREFIX, demo_actions
from ratings.models import DailyTotal, KpiAction, RatingTotal
from ratings.selectors import leaderboard


@pytest.fixture
def seeded(db, demo_clock):
    """The demo as seeded on a fixed day (conftest.DEMO_MOMENT): on the 1st of a month this
    month's leaderboard is still empty."""
    return demo_seed()


def _seed_on_the_demo_day():
    with time_machine.travel(DEMO_MOMENT, tick=True):
        return demo_seed()


@pytest.fixture(scope="class")
def _seeded_once(made_once):
    with made_once(_seed_on_the_demo_day) as demo:
        yield demo


@pytest.fixture
def seeded_once(_seeded_once, db, demo_clock):
    """``seeded``, made once for ``TestTheDemoAsSeeded``'s tests, which only read it."""
    return _seeded_once


def test_the_step_is_registered_after_the_kpis():
    steps = hooks.demo_steps.receivers
    assert steps.count(demo_actions) == 1
    assert steps.index(demo_actions) > steps.index(demo_kpis)


class TestTheDemoAsSeeded:
    """The tests that only read the demo share one seeding (``seeded_once``), rolled back after them."""

    def test_the_demo_has_months_of_actions_for_most_people(self, seeded_once):
        tz = zoneinfo.ZoneInfo(seeded_once.company.time_zone)
        with company_context(seeded_once.company.id):
            actions = KpiAction.objects.all()
            members = list(Member.objects.select_related("user"))
            per_person = dict(actions.values_list("member_id").annotate(n=Count("id")))
            days = list(actions.dates("day", "month"))
            assert seeded_once.created["KPI actions"] == actions.count() > 2000
            # most people, each only on KPIs they receive, from integrations, with demo external ids
            assert len(per_person) >= 0.9 * len(members)
            for member in members:
                received = set(kpi_list_for_member(member).values_list("id", flat=True))
                assert set(actions.filter(member=member).values_list("kpi_id", flat=True)) <= received
            assert set(actions.values_list("source", flat=True)) == {"api", "import"}
            assert not actions.exclude(external_id__startswith=EXTERNAL_ID_PREFIX).exists()
            # five months up to today, mostly on weekdays
            today = timezone.now().astimezone(tz).date()
            assert len(days) == 5
            assert days[-1] == today.replace(day=1)
            weekend = actions.filter(day__week_day__in=[1, 7]).count()
            assert weekend < 0.05 * actions.count()
            # values of their unit: whole calls, roubles with kopecks, nothing below zero
            calls = set(actions.filter(kpi__integration_name="calls_made").values_list("value", flat=True))
            assert all(value == value.to_integral() and 5 <= value <= 90 for value in calls)
            revenue = list(actions.filter(kpi__integration_name="revenue").values_list("value", flat=True))
            assert revenue
            assert all(value.as_tuple().exponent >= -2 and value >= 90_000 for value in revenue)

    def test_the_member_has_a_rank_in_this_months_company_leaderboard(self, seeded_once):
        tz = zoneinfo.ZoneInfo(seeded_once.company.time_zone)
        today = timezone.now().astimezone(tz).date()
        with company_context(seeded_once.company.id):
            member = Member.objects.get(user__email=MEMBER_EMAIL)
            board = leaderboard(period="month", day=today, viewer=member, limit=100)
            assert board.count >= 20
            assert board.me is not None
            assert board.me.points > 0
            assert member.user_id in {row.member_id for row in board.rows}
            # people differ: a spread of points, not a tie
            assert len({row.points for row in board.rows}) > 10


def test_a_second_run_changes_nothing(seeded):
    def snapshot():
        with company_context(seeded.company.id):
            return [
                list(model.objects.values().order_by("pk")) for model in (KpiAction, DailyTotal, RatingTotal)
            ]

    before = snapshot()
    again = demo_seed()
    assert "KPI actions" not in again.created
    assert snapshot() == before


def test_a_run_on_a_later_day_only_adds_the_new_days(seeded, monkeypatch):
    with company_context(seeded.company.id):
        before = set(KpiAction.objects.values_list("external_id", "value", "occurred_at"))
    later = timezone.now() + datetime.timedelta(days=3)
    monkeypatch.setattr(timezone, "now", lambda: later)
    demo_seed()
    with company_context(seeded.company.id):
        after = set(KpiAction.objects.values_list("external_id", "value", "occurred_at"))
    assert before < after  # nothing changed, a few days were added (no external id conflicts)
