"""K11 (issue 16): the day aggregates keep each day's lowest and highest value and each person's
latest action, through recording, voiding, recalculations, people who move and the rebuild."""

import datetime
import importlib
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis import services as kpi_services
from kpis.tests.factories import make_active_kpi
from orgs import services as org_services
from orgs.models import Member
from orgs.tenancy import company_context
from ratings import services
from ratings.models import (
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    DepartmentMonthTotal,
    KpiAction,
    PeriodLatest,
    RatingTotal,
    TeamMonthTotal,
)

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
# Local times in the company's zone (Moscow, +03:00) on five days: a few moments a day, so that
# many actions share an ``occurred_at`` (the id decides), and two on either side of midnight, whose
# local day is not their UTC day.
MOMENTS = [
    f"2026-11-{day:02d}T{clock}+03:00"
    for day in range(10, 15)
    for clock in ("00:10:00", "09:00:00", "12:00:00", "12:00:00.250000", "23:50:00")
] + ["2026-10-31T23:50:00+03:00", "2026-10-01T00:10:00+03:00"]  # a month before
# Every table of aggregates the rebuild writes (the boards' sizes aside).
AGGREGATES = (
    DailyTotal,
    CompanyDailyTotal,
    DepartmentDailyTotal,
    DepartmentMonthTotal,
    TeamMonthTotal,
    RatingTotal,
    PeriodLatest,
)


@pytest.fixture
def k11(company, make_member):
    """Acme: Sales (Ann and Bob in its team Alpha, Cid in the department directly), Support (Dan),
    and two people in no department (Eve, Fay); three KPIs, one of them outside the rating."""
    with company_context(company.id):
        sales = org_services.department_create(name="Sales")
        support = org_services.department_create(name="Support")
        alpha = org_services.team_create(name="Alpha", department=sales)
        kpis = [
            make_active_kpi(company, integration_name="calls", in_rating=True, rating_units="5"),
            make_active_kpi(company, integration_name="revenue", in_rating=True, rating_units="100"),
            make_active_kpi(company, integration_name="nps", in_rating=False),
        ]
    people = [
        make_member(company, email="ann@acme.example", team=alpha),
        make_member(company, email="bob@acme.example", team=alpha),
        make_member(company, email="cid@acme.example", department=sales),
        make_member(company, email="dan@acme.example", department=support),
        make_member(company, email="eve@acme.example"),
        make_member(company, email="fay@acme.example"),
    ]
    return type(
        "K11",
        (),
        {
            "company": company,
            "sales": sales,
            "support": support,
            "alpha": alpha,
            "kpis": kpis,
            "people": people,
        },
    )


def _items(rng: random.Random, k11, count: int) -> list[dict]:
    return [
        {
            "kpi": rng.choice(k11.kpis).integration_name,
            "user": rng.choice(k11.people).user.email,
            # Some values repeat (0, 5), so that equal lows and highs of several actions occur too.
            "value": str(rng.choice([Decimal(0), Decimal(5), Decimal(rng.randint(1, 99999)) / 100])),
            "occurred_at": rng.choice(MOMENTS),
        }
        for _n in range(count)
    ]


def _expected() -> tuple[dict, dict, dict]:
    """Brute force from the non-voided actions: the people's, the company's and the departments'
    days (a department's: the days of the people in it now), each ``(value, points, actions, low,
    high)`` and, for people, the latest action's ``(value, occurred_at, id)`` after them."""
    placed = dict(Member.objects.values_list("user_id", "department_id"))
    people: dict = {}
    company: dict = defaultdict(list)
    departments: dict = defaultdict(list)
    for action in KpiAction.objects.filter(voided_at__isnull=True):
        person = people.setdefault((action.member_id, action.kpi_id, action.day), [])
        person.append(action)
        company[(action.kpi_id, action.day)].append(action)
        if placed[action.member_id] is not None:
            departments[(placed[action.member_id], action.kpi_id, action.day)].append(action)

    def day(actions: list) -> tuple:
        values = [action.value for action in actions]
        points = sum((action.points for action in actions), Decimal(0))
        return (sum(values, Decimal(0)), points, len(actions), min(values), max(values))

    def last(actions: list) -> tuple:
        latest = max(actions, key=lambda action: (action.occurred_at, action.id))
        return (latest.value, latest.occurred_at, latest.id)

    return (
        {key: day(actions) + last(actions) for key, actions in people.items()},
        {key: day(actions) for key, actions in company.items()},
        {key: day(actions) for key, actions in departments.items()},
    )


def _kept(rows, keys: tuple, columns: tuple) -> dict:
    """The rows with actions; those a void emptied must be empty altogether (zero sums, no levels)."""
    kept = {}
    for row in rows.values_list(*keys, *columns):
        key, values = row[: len(keys)], row[len(keys) :]
        if values[2] == 0:
            assert values[:3] == (0, 0, 0), row
            assert set(values[3:]) == {None}, ("an emptied day keeps levels", row)
        else:
            kept[key] = values
    return kept


def assert_days_equal_their_actions() -> None:
    people, company, departments = _expected()
    day = ("value", "points", "actions", "low", "high")
    last = ("last_value", "last_at", "last_action_id")
    assert _kept(DailyTotal.objects, ("member_id", "kpi_id", "day"), (*day, *last)) == people
    assert _kept(CompanyDailyTotal.objects, ("kpi_id", "day"), day) == company
    assert _kept(DepartmentDailyTotal.objects, ("department_id", "kpi_id", "day"), day) == departments
    assert _kept(DepartmentMonthTotal.objects, ("department_id", "kpi_id", "month"), day) == _by_month(
        departments.items()
    )
    # and the teams' months: their people's (those in them now) days rolled up
    teamed = dict(Member.objects.filter(team__isnull=False).values_list("user_id", "team_id"))
    team_days = [
        ((teamed[member_id], kpi_id, on), values[:5])
        for (member_id, kpi_id, on), values in people.items()
        if member_id in teamed
    ]
    assert _kept(TeamMonthTotal.objects, ("team_id", "kpi_id", "month"), day) == _by_month(team_days)


def _by_month(unit_days) -> dict[tuple, tuple]:
    """Days of units ``((unit, KPI, day), (value, points, count, low, high))`` added up by month."""
    months: dict[tuple, tuple] = {}
    for (unit_id, kpi_id, on), (value, points, count, low, high) in unit_days:
        key = (unit_id, kpi_id, on.replace(day=1))
        before = months.get(key, (0, 0, 0, low, high))
        months[key] = (
            before[0] + value,
            before[1] + points,
            before[2] + count,
            min(before[3], low),
            max(before[4], high),
        )
    return months


def _fresh(member) -> Member:
    return Member.objects.get(user_id=member.user_id)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_days_equal_their_actions_through_recording_voids_moves_and_the_rebuild(
    k11, seed, other_company, make_member
):
    """K11: after every write, each day's low, high and last (and its sums) are what the actions
    give, at the person's, department's and company's level; a rebuild corrects nothing, and
    finds and corrects a wrong low and a wrong last value."""
    rng = random.Random(seed)
    _ann, _bob, cid, dan, eve, _fay = k11.people

    def void_some(count: int) -> None:
        for action in rng.sample(list(KpiAction.objects.filter(voided_at__isnull=True)), count):
            services.action_void(action=action, reason="wrong")
            assert_days_equal_their_actions()

    with company_context(k11.company.id):
        # given batches recorded one by one, then several in one transaction (one upsert of all)
        for _batch in range(3):
            services.actions_record(items=_items(rng, k11, 60), now=NOW)
            assert_days_equal_their_actions()
        with services.actions_recorder(now=NOW) as recorder:
            for _batch in range(3):
                recorder.add(_items(rng, k11, 40))
        assert_days_equal_their_actions()

        # when actions are voided, people move (in every way) and more are recorded and voided
        void_some(12)
        org_services.team_update(team=k11.alpha, department=k11.support)  # Ann and Bob go along
        assert_days_equal_their_actions()
        org_services.member_update(member=_fresh(eve), department=k11.sales)  # from none
        assert_days_equal_their_actions()
        org_services.member_update(member=_fresh(dan), department=None)  # to none
        assert_days_equal_their_actions()
        services.actions_record(items=_items(rng, k11, 60), now=NOW)
        assert_days_equal_their_actions()
        void_some(8)
        org_services.member_update(member=_fresh(cid), department=k11.support)
        assert_days_equal_their_actions()
        # and people change team in every way (their team's months follow them)
        ann, bob = k11.people[:2]
        beta = org_services.team_create(name="Beta", department=k11.support)
        org_services.members_move(members=[_fresh(ann), _fresh(cid)], team=beta)
        assert_days_equal_their_actions()
        org_services.member_update(member=_fresh(bob), team=None)
        assert_days_equal_their_actions()
        org_services.member_update(member=_fresh(eve), team=k11.alpha)  # and department with it
        assert_days_equal_their_actions()
        void_some(6)
        org_services.team_delete(team=k11.alpha, move_to=beta)  # Eve
        assert_days_equal_their_actions()
        assert not TeamMonthTotal.objects.filter(team_id=k11.alpha.id).exists()
        org_services.department_delete(department=k11.support)  # everyone in Beta: in no team
        assert_days_equal_their_actions()
        services.actions_record(items=_items(rng, k11, 30), now=NOW)
        void_some(4)

        # then a rebuild finds every row right
        assert services.aggregates_rebuild().corrected == 0
        assert_days_equal_their_actions()

        # and when one day's low and another's last value go wrong, it reports and fixes both
        first, second = rng.sample(list(DailyTotal.objects.filter(actions__gt=0)), 2)
        DailyTotal.objects.filter(pk=first.pk).update(low=first.low + 1)
        DailyTotal.objects.filter(pk=second.pk).update(last_value=second.last_value + 1)
        assert services.aggregates_rebuild().corrected == 2
        assert_days_equal_their_actions()
        assert services.aggregates_rebuild().corrected == 0

        # and a company whose aggregates are all gone (its actions loaded by hand) gets every row
        # back, and only its own: another company's rows do not count as its rows
        kept = services.aggregates._aggregate_rows()
        for model in AGGREGATES:
            model.objects.all().delete()
    zed = make_member(other_company, email="zed@globex.example")
    with company_context(other_company.id):
        make_active_kpi(other_company, integration_name="calls", in_rating=True)
        services.actions_record(items=[{"kpi": "calls", "user": zed.user.email, "value": "2"}], now=NOW)
    with company_context(k11.company.id):
        rebuilt = services.aggregates_rebuild()
        assert services.aggregates._aggregate_rows() == kept
        assert rebuilt.corrected >= len(kept)  # every row came back (and rows at zero, on PostgreSQL)
        assert_days_equal_their_actions()
        assert services.aggregates_rebuild().corrected == 0


def _record(k11, *items: tuple) -> list[KpiAction]:
    """``(person, value, occurred_at)`` on ``calls``, recorded in one batch, oldest id first."""
    result = services.actions_record(
        items=[
            {"kpi": "calls", "user": person.user.email, "value": value, "occurred_at": moment}
            for person, value, moment in items
        ],
        now=NOW,
    )
    return list(KpiAction.objects.filter(id__in=[row["id"] for row in result.results]).order_by("id"))


def _levels(member) -> tuple:
    day = DailyTotal.objects.get(member_id=member.user_id)
    return (day.low, day.high, day.last_value, day.last_at, day.last_action_id)


def test_of_actions_at_the_same_moment_the_last_recorded_is_the_days_last(k11):
    ann = k11.people[0]
    with company_context(k11.company.id):
        # given two actions at 12:00 and, recorded after them, one at 09:00
        noon = "2026-11-12T12:00:00+03:00"
        first, second, _early = _record(
            k11, (ann, "7", noon), (ann, "3", noon), (ann, "9", "2026-11-12T09:00:00+03:00")
        )

        # then the day's last is the later id at the later time, whatever the order of recording
        assert _levels(ann) == (Decimal(3), Decimal(9), Decimal(3), second.occurred_at, second.id)

        # when the last is voided, the other action at the same moment is the last
        services.action_void(action=second, reason="wrong")
        assert _levels(ann) == (Decimal(7), Decimal(9), Decimal(7), first.occurred_at, first.id)


def test_voiding_a_days_lowest_highest_and_last_actions_recomputes_them_at_every_level(k11):
    ann, bob = k11.people[:2]  # both in Sales
    with company_context(k11.company.id):
        # given Ann's 2, 5 and 8 and Bob's 4 on the same day
        low, _middle, high = _record(
            k11,
            (ann, "2", "2026-11-12T09:00:00+03:00"),
            (ann, "5", "2026-11-12T10:00:00+03:00"),
            (ann, "8", "2026-11-12T11:00:00+03:00"),
        )
        _record(k11, (bob, "4", "2026-11-12T08:00:00+03:00"))
        kpi_id = low.kpi_id

        # when the lowest and the highest (also the latest) are voided
        services.action_void(action=low, reason="wrong")
        services.action_void(action=high, reason="wrong")

        # then the day, the department's day and the company's day have what is left
        assert _levels(ann)[:3] == (Decimal(5), Decimal(5), Decimal(5))
        department = DepartmentDailyTotal.objects.get(department_id=k11.sales.id, kpi_id=kpi_id)
        company = CompanyDailyTotal.objects.get(kpi_id=kpi_id)
        assert (department.low, department.high) == (company.low, company.high) == (Decimal(4), Decimal(5))
        assert_days_equal_their_actions()


def test_a_recalculation_of_points_leaves_the_values_low_high_and_last(k11):
    rng = random.Random(3)
    with company_context(k11.company.id):
        # given actions, and then a new ratio for calls
        services.actions_record(items=_items(rng, k11, 60), now=NOW)
        levels = sorted(
            DailyTotal.objects.values_list(
                "member_id", "kpi_id", "day", "low", "high", "last_value", "last_action_id"
            )
        )
        calls = k11.kpis[0]
        kpi_services.kpi_update(kpi=calls, rating_units="2")

        # when the points are recalculated
        assert services.kpi_points_recalculate(kpi=calls) > 0

        # then only points moved
        assert (
            sorted(
                DailyTotal.objects.values_list(
                    "member_id", "kpi_id", "day", "low", "high", "last_value", "last_action_id"
                )
            )
            == levels
        )
        assert_days_equal_their_actions()
        assert services.aggregates_rebuild().corrected == 0


def test_recording_merges_them_in_the_sums_upserts_with_no_query_of_their_own(k11):
    """The hot path (R1, 10 M actions): low, high and last travel in the one upsert per day table
    (the person's, the department's, the company's) that the sums already had."""
    ann = k11.people[0]
    items = [
        {"kpi": "calls", "user": ann.user.email, "value": str(n), "occurred_at": MOMENTS[n]} for n in range(5)
    ]
    with company_context(k11.company.id), CaptureQueriesContext(connection) as queries:
        services.actions_record(items=items, now=NOW)
    days = [query["sql"].lstrip().split()[0].upper() for query in queries if "dailytotal" in query["sql"]]
    assert days == ["INSERT", "INSERT", "INSERT"]


def test_the_migration_fills_the_days_kept_before_from_their_actions(k11):
    """Migration 0011's data step: rows kept before the columns existed get them from the actions,
    as a rebuild computes them (one UPDATE per table, PostgreSQL's and SQLite's alike)."""
    rng = random.Random(8)
    migration = importlib.import_module("ratings.migrations.0011_day_aggregates_keep_low_high_and_last")
    with company_context(k11.company.id):
        services.actions_record(items=_items(rng, k11, 80), now=NOW)
        for action in rng.sample(list(KpiAction.objects.all()), 10):
            services.action_void(action=action, reason="wrong")
        # given the days as they were before the columns
        DailyTotal.objects.update(low=None, high=None, last_value=None, last_at=None, last_action_id=None)
        CompanyDailyTotal.objects.update(low=None, high=None)
        DepartmentDailyTotal.objects.update(low=None, high=None)

    # when the migration fills them (``execute`` is all it asks of its schema editor)
    with connection.cursor() as cursor:
        migration.fill_levels(apps, type("SchemaEditor", (), {"execute": staticmethod(cursor.execute)}))

    # then they are what the actions give, and what a rebuild finds
    with company_context(k11.company.id):
        assert_days_equal_their_actions()
        assert services.aggregates_rebuild().corrected == 0


def test_the_migrations_build_the_departments_and_teams_months_from_their_days(k11):
    """Migrations 0018's and 0019's data steps: the days kept before the months were give the
    departments' and the teams' months, lows and highs too, as recording keeps them."""
    rng = random.Random(18)
    departments = importlib.import_module("ratings.migrations.0018_department_month_totals")
    teams = importlib.import_module("ratings.migrations.0019_team_month_totals")
    with company_context(k11.company.id):
        services.actions_record(items=_items(rng, k11, 80), now=NOW)
        for action in rng.sample(list(KpiAction.objects.all()), 10):
            services.action_void(action=action, reason="wrong")
        assert DepartmentMonthTotal.objects.count() > 1
        assert TeamMonthTotal.objects.count() > 1
        # given the days as they were before the months
        DepartmentMonthTotal.objects.all().delete()
        TeamMonthTotal.objects.all().delete()

    departments.build_months(apps, None)
    teams.build_months(apps, None)

    with company_context(k11.company.id):
        assert_days_equal_their_actions()
        assert services.aggregates_rebuild().corrected == 0
