"""The one recording service (R1–R5) and the aggregates it keeps (R6), through the service."""

import datetime
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection

from kpi_platform.errors import DomainError
from kpis import services as kpi_services
from kpis.tests.factories import make_active_kpi
from orgs import services as org_services
from orgs.models import Member, Role
from orgs.tenancy import company_context
from ratings import services
from ratings.models import (
    CompanyDailyTotal,
    DailyTotal,
    DepartmentDailyTotal,
    DepartmentMonthTotal,
    KpiAction,
    RatingBoard,
    RatingTotal,
    TeamMonthTotal,
)
from ratings.periods import period_starts
from ratings.selectors import Scope, leaderboard, leaderboard_range

MOSCOW = datetime.timezone(datetime.timedelta(hours=3))
NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


def errors_of(excinfo) -> list[tuple]:
    error = excinfo.value
    errors = error.errors
    return [(e.code, e.field, e.index) for e in errors]


@pytest.fixture
def org(company, make_member):
    """Acme with a Sales department (teams Alpha, Beta), people and two active KPIs."""
    from orgs.services import department_create, team_create

    with company_context(company.id):
        sales = department_create(name="Sales")
        alpha = team_create(name="Alpha", department=sales)
        beta = team_create(name="Beta", department=sales)
    people = {
        "ann": make_member(company, Role.MEMBER, email="ann@acme.example", team=alpha, external_id="e-ann"),
        "bob": make_member(company, Role.MEMBER, email="bob@acme.example", team=alpha),
        "cid": make_member(company, Role.MEMBER, email="cid@acme.example", team=beta),
        "dan": make_member(company, Role.MEMBER, email="dan@acme.example"),
    }
    with company_context(company.id):
        calls = make_active_kpi(
            company, integration_name="calls", in_rating=True, rating_units="5", rating_points=1
        )
        deals = make_active_kpi(
            company, integration_name="deals", in_rating=True, rating_units="1", rating_points=10
        )
    return type(
        "Org",
        (),
        {
            "company": company,
            "sales": sales,
            "alpha": alpha,
            "beta": beta,
            "calls": calls,
            "deals": deals,
            **people,
        },
    )


def record(org, items, **kwargs):
    with company_context(org.company.id):
        return services.actions_record(items=items, now=NOW, **kwargs)


# --- Points (R2) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "units", "points", "expected"),
    [
        ("3", "1", 1, "3.00"),
        ("1", "3", 1, "0.33"),
        ("2", "3", 1, "0.67"),
        ("1", "8", 1, "0.13"),  # 0.125 rounds half up
        ("0.05", "0.10", 1, "0.50"),
        ("1.25", "0.5", 3, "7.50"),
        ("0.01", "1.50", 1, "0.01"),  # 0.00667 → 0.01
        ("0.01", "3", 1, "0.00"),  # 0.00333 → 0.00
        ("7", "2.5", 7, "19.60"),
        ("0", "1", 5, "0.00"),
    ],
)
def test_points_are_value_times_m_over_n_rounded_half_up(value, units, points, expected):
    assert services.compute_points(
        Decimal(value), in_rating=True, rating_units=Decimal(units), rating_points=points
    ) == Decimal(expected)


def test_points_that_would_not_fit_are_refused():
    """R2, issue 17: an action gives at most 999,999,999,999.99 points (the points column holds
    16 digits, and the day and period totals sum many actions); more is ``value_invalid``."""
    most = services.compute_points(
        Decimal("999999999999.99"), in_rating=True, rating_units=Decimal(1), rating_points=1
    )
    assert most == Decimal("999999999999.99")
    for value, units, points in [
        ("1000000000000", "1", 1),
        ("10", "0.01", 2147483647),
        ("999999999999.99", "0.01", 1),
    ]:
        with pytest.raises(DomainError) as excinfo:
            services.compute_points(
                Decimal(value), in_rating=True, rating_units=Decimal(units), rating_points=points
            )
        assert (excinfo.value.code, excinfo.value.field) == ("value_invalid", "value")
    # outside the rating a value gives no points at all, however large
    assert (
        services.compute_points(
            Decimal("999999999999.99"),
            in_rating=False,
            rating_units=Decimal("0.01"),
            rating_points=2147483647,
        )
        == 0
    )


def test_a_kpi_outside_the_rating_gives_no_points():
    assert (
        services.compute_points(Decimal("9"), in_rating=False, rating_units=Decimal(1), rating_points=1) == 0
    )


def test_recorded_points_stay_until_a_recalculation(org):
    # given an action recorded at 5 calls = 1 point
    record(
        org,
        [
            {
                "kpi": "calls",
                "user": "ann@acme.example",
                "value": "10",
                "occurred_at": "2026-11-02T10:00:00+03:00",
            }
        ],
    )
    with company_context(org.company.id):
        # when the ratio changes to 2 calls = 1 point
        kpi_services.kpi_update(kpi=org.calls, rating_units="2")
        action = KpiAction.objects.get()
        # then the recorded points did not change
        assert action.points == Decimal("2.00")
        # until an administrator recalculates
        assert services.kpi_points_recalculate(kpi=org.calls) == 1
        assert KpiAction.objects.get().points == Decimal("5.00")
        assert RatingTotal.objects.get(period="month").points == Decimal("5.00")
        assert DailyTotal.objects.get().points == Decimal("5.00")
        assert org.calls.changes.filter(action="recalculated").count() == 1


# --- Validation (R1, K5, K8) ------------------------------------------------------------------------


def test_a_batch_with_one_bad_item_records_nothing_and_reports_every_error(org):
    items = [
        {"kpi": "calls", "user": "ann@acme.example", "value": "3"},
        {"kpi": "nope", "user": "ann@acme.example", "value": "3"},
        {"kpi": "calls", "user": "ghost@acme.example", "value": "3"},
        {"kpi": "calls", "user": "bob@acme.example", "value": "-1"},
        {"kpi": "calls", "user": "bob@acme.example", "value": "1.005"},
        {"kpi": "calls", "user": "bob@acme.example", "value": "1", "occurred_at": "yesterday"},
        {
            "kpi": "calls",
            "user": "bob@acme.example",
            "value": "1",
            "occurred_at": "2026-12-25T10:00:00+03:00",
        },
    ]
    with pytest.raises(DomainError) as excinfo:
        record(org, items)
    assert errors_of(excinfo) == [
        ("unknown_kpi", "kpi", 1),
        ("unknown_user", "user", 2),
        ("value_invalid", "value", 3),
        ("value_invalid", "value", 4),
        ("occurred_at_invalid", "occurred_at", 5),
        ("occurred_at_invalid", "occurred_at", 6),
    ]
    with company_context(org.company.id):
        assert not KpiAction.objects.exists()
        assert not DailyTotal.objects.exists()


def test_a_hidden_kpi_accepts_no_actions(org):
    with company_context(org.company.id):
        kpi_services.kpi_update(kpi=org.calls, status="hidden")
    with pytest.raises(DomainError) as excinfo:
        record(org, [{"kpi": "calls", "user": "ann@acme.example", "value": "1"}])
    assert errors_of(excinfo) == [("kpi_inactive", "kpi", 0)]


def test_people_outside_the_audience_are_refused(org):
    # given a KPI of team Alpha, and a company KPI hidden for team Beta
    with company_context(org.company.id):
        alpha_kpi = make_active_kpi(org.company, integration_name="alpha_only", level="team", team=org.alpha)
        kpi_services.kpi_hide(kpi=org.deals, team=org.beta)
    with pytest.raises(DomainError) as excinfo:
        record(
            org,
            [
                {"kpi": "alpha_only", "user": "ann@acme.example", "value": "1"},
                {"kpi": "alpha_only", "user": "cid@acme.example", "value": "1"},
                {"kpi": "deals", "user": "cid@acme.example", "value": "1"},
                {"kpi": "deals", "user": "dan@acme.example", "value": "1"},
            ],
        )
    assert errors_of(excinfo) == [("not_in_audience", "user", 1), ("not_in_audience", "user", 2)]
    assert alpha_kpi.id


def test_the_in_memory_audience_rule_agrees_with_the_selectors(org):
    """The recording service (and the activity logger) decide reach in memory; kpis.selectors
    decides it in SQL."""
    from kpis.selectors import KpiReach, kpi_reaches_member
    from ratings.services.recording import _Person

    with company_context(org.company.id):
        kpis = [
            org.calls,
            make_active_kpi(org.company, level="department", department=org.sales),
            make_active_kpi(org.company, level="team", team=org.beta),
            make_active_kpi(org.company, audience=kpi_services.Audience(members=[org.bob])),
            make_active_kpi(org.company, audience=kpi_services.Audience(teams=[org.beta])),
            make_active_kpi(org.company, audience=kpi_services.Audience(departments=[org.sales])),
        ]
        kpi_services.kpi_hide(kpi=kpis[1], team=org.alpha)
        kpi_services.kpi_hide(kpi=org.calls, department=org.sales)
        reach = KpiReach.load([kpi.id for kpi in kpis])
        for kpi in kpis:
            for member in (org.ann, org.bob, org.cid, org.dan):
                person = _Person(member.user_id, member.department_id, member.team_id)
                assert reach.reaches(kpi, person) == kpi_reaches_member(kpi, member), (kpi, member)
                assert reach.reaches(kpi, member) == kpi_reaches_member(kpi, member), (kpi, member)


def test_a_user_is_found_by_external_id_and_case_insensitive_email(org):
    result = record(
        org,
        [
            {"kpi": "CALLS", "user": "e-ann", "value": "5"},
            {"kpi": "calls", "user": "BOB@Acme.Example", "value": "5"},
        ],
    )
    assert result.created == 2
    with company_context(org.company.id):
        assert sorted(KpiAction.objects.values_list("member_id", flat=True)) == sorted(
            [org.ann.user_id, org.bob.user_id]
        )


def test_a_lead_records_for_their_team_only_and_learns_nothing_of_the_others(org, make_member):
    # O4, in the service itself, so every entry point (API, logger, an import uploaded by a lead)
    # applies it: a person out of reach is unknown, exactly as nobody at all, by any key
    lead = make_member(org.company, Role.MEMBER, email="lead@acme.example", team=org.alpha)
    with company_context(org.company.id):
        org_services.team_set_leads(team=org.alpha, leads=[lead])
        lead = Member.objects.get(user_id=lead.user_id)
    outside = [
        {"kpi": "calls", "user": "cid@acme.example", "value": "1"},  # another team
        {"kpi": "calls", "user": "dan@acme.example", "value": "1"},  # no team
        {"kpi": "calls", "user": "ghost@acme.example", "value": "1"},  # nobody
    ]
    with pytest.raises(DomainError) as excinfo:
        record(org, [{"kpi": "calls", "user": "e-ann", "value": "1"}, *outside], recorded_by=lead)
    assert errors_of(excinfo) == [("unknown_user", "user", n) for n in (1, 2, 3)]
    with pytest.raises(DomainError) as excinfo, company_context(org.company.id):
        services.actions_record(items=[{"kpi": "calls", "user": org.cid, "value": "1"}], recorded_by=lead)
    assert errors_of(excinfo) == [("unknown_user", "user", 0)]
    with company_context(org.company.id):
        assert not KpiAction.objects.exists()

    result = record(
        org,
        [{"kpi": "calls", "user": "e-ann", "value": "1"}, {"kpi": "calls", "user": org.bob, "value": "2"}],
        recorded_by=lead,
    )
    assert result.created == 2
    # a company admin, or a token (no one), records for anyone
    admin = make_member(org.company, Role.ADMIN, email="boss@acme.example")
    assert record(org, outside[:2], recorded_by=admin).created == 2
    assert record(org, [{"kpi": "deals", "user": "dan@acme.example", "value": "1"}]).created == 1


@pytest.mark.parametrize("source", ["api", "logger", "manual", "import"])
def test_a_head_records_and_voids_for_their_people_not_for_themselves(org, make_member, source):
    """O5, issue 17: one rule in the service, for every source (API, logger, admin, import): a
    lead records and voids for their team, never for themselves, unless the company allows
    self-reporting (O7)."""
    # given a lead of Alpha who is in Alpha themselves
    lead = make_member(org.company, Role.MEMBER, email="lead@acme.example", team=org.alpha)
    with company_context(org.company.id):
        org_services.team_set_leads(team=org.alpha, leads=[lead])
        lead = Member.objects.get(user_id=lead.user_id)
    mine = {"kpi": "calls", "user": "lead@acme.example", "value": "5"}

    # when they record for themselves, by e-mail or as an object, then it is refused with a message
    # that says why, and nothing is recorded
    for items in ([mine], [{**mine, "user": lead}]):
        with pytest.raises(DomainError) as excinfo:
            record(org, items, recorded_by=lead, source=source)
        assert errors_of(excinfo) == [("unknown_user", "user", 0)]
        assert "yourself" in excinfo.value.message
    with company_context(org.company.id):
        assert not KpiAction.objects.exists()

    # and an action of theirs, recorded by an admin, is not theirs to void
    own = record(org, [mine]).results[0]["id"]
    with company_context(org.company.id), pytest.raises(DomainError) as excinfo:
        services.action_void(action=KpiAction.objects.get(id=own), reason="mine", voided_by=lead)
    assert excinfo.value.code == "permission_denied"

    # when the company allows self-reporting, they record and void their own
    org_services.company_update(company=org.company, self_reporting=True)
    with company_context(org.company.id):
        lead = Member.objects.get(user_id=lead.user_id)  # the setting is read once per person
    assert record(org, [mine], recorded_by=lead, source=source).created == 1
    with company_context(org.company.id):
        services.action_void(action=KpiAction.objects.get(id=own), reason="mine", voided_by=lead)


def test_another_companys_people_and_kpis_are_unknown(org, other_company, make_member):
    make_member(other_company, Role.MEMBER, email="eve@globex.example")
    with company_context(other_company.id):
        make_active_kpi(other_company, integration_name="globex_kpi")
    with pytest.raises(DomainError) as excinfo:
        record(
            org,
            [
                {"kpi": "globex_kpi", "user": "ann@acme.example", "value": "1"},
                {"kpi": "calls", "user": "eve@globex.example", "value": "1"},
            ],
        )
    assert errors_of(excinfo) == [("unknown_kpi", "kpi", 0), ("unknown_user", "user", 1)]


def test_batch_too_large(org):
    with pytest.raises(DomainError) as excinfo:
        record(org, [{"kpi": "calls", "user": "ann@acme.example", "value": "1"}] * 5001)
    assert errors_of(excinfo) == [("batch_too_large", None, None)]


# --- Idempotency (R4) -------------------------------------------------------------------------------


def test_the_same_external_id_with_the_same_content_is_a_duplicate(org):
    item = {
        "kpi": "deals",
        "user": "ann@acme.example",
        "value": "2",
        "external_id": "crm-1",
        "occurred_at": "2026-11-02T10:00:00+03:00",
    }
    first = record(org, [item])
    again = record(org, [item, dict(item)])
    assert (first.created, first.duplicates) == (1, 0)
    assert (again.created, again.duplicates) == (0, 2)
    assert again.results[0]["id"] == first.results[0]["id"]
    with company_context(org.company.id):
        assert KpiAction.objects.count() == 1
        assert RatingTotal.objects.get(period="all", member_id=org.ann.user_id).points == Decimal("20.00")


def test_an_action_without_a_time_retried_later_is_a_duplicate(org):
    # R4: an item without occurred_at means "now"; the client retrying the very same item a few
    # minutes later (its answer was lost) sent the same content, so it is a duplicate, not a 409
    item = {"kpi": "deals", "user": "ann@acme.example", "value": "2", "external_id": "crm-7"}
    first = record(org, [item])
    with company_context(org.company.id):
        again = services.actions_record(items=[dict(item)], now=NOW + datetime.timedelta(minutes=5))
    assert (again.created, again.duplicates) == (0, 1)
    assert again.results[0]["id"] == first.results[0]["id"]
    with company_context(org.company.id):
        assert KpiAction.objects.get().occurred_at == NOW  # the time of the first recording stays
    # a time given explicitly must still match
    with pytest.raises(DomainError) as excinfo:
        record(org, [{**item, "occurred_at": "2026-11-02T10:00:00+03:00"}])
    assert errors_of(excinfo) == [("external_id_conflict", "external_id", 0)]


def test_the_same_external_id_with_other_content_is_a_conflict(org):
    item = {
        "kpi": "deals",
        "user": "ann@acme.example",
        "value": "2",
        "external_id": "crm-1",
        "occurred_at": "2026-11-02T10:00:00+03:00",
    }
    record(org, [item])
    with pytest.raises(DomainError) as excinfo:
        record(org, [{"kpi": "calls", "user": "bob@acme.example", "value": "1"}, {**item, "value": "3"}])
    assert errors_of(excinfo) == [("external_id_conflict", "external_id", 1)]
    assert excinfo.value.status_code == 409
    with company_context(org.company.id):
        assert KpiAction.objects.count() == 1


def test_a_recorders_failed_batch_records_nothing_and_the_others_count_once(org, monkeypatch):
    """R3/R4 for many batches in one transaction (an import): a batch refused for a conflict found
    at the insert takes only itself back; the rest is recorded, its aggregates applied together
    (and several times, when many are pending) equal to a rebuild's."""
    # given an action recorded with an external id
    record(org, [{"kpi": "deals", "user": "ann@acme.example", "value": "1", "external_id": "crm-1"}])
    monkeypatch.setattr("ratings.services.recording.AGGREGATE_FLUSH_KEYS", 2)

    def batch(start: int, *extra: dict) -> list[dict]:
        items = [
            {
                "kpi": ("calls", "deals")[n % 2],
                "user": ("ann@acme.example", "bob@acme.example", "e-ann")[n % 3],
                "value": str(n),
                "occurred_at": f"2026-11-{1 + n % 9:02d}T10:00:00+03:00",
                "external_id": f"b-{n}",
            }
            for n in range(start, start + 5)
        ]
        return items + list(extra)

    # when three batches go through one recorder, the second repeating crm-1 with other content
    outcomes = []
    with company_context(org.company.id), services.actions_recorder(source="import", now=NOW) as recorder:
        for items in (
            batch(0),
            batch(5, {"kpi": "deals", "user": "bob@acme.example", "value": "9", "external_id": "crm-1"}),
            batch(10, {"kpi": "deals", "user": "ann@acme.example", "value": "1", "external_id": "crm-1"}),
        ):
            try:
                result = recorder.add(items)
                outcomes.append((result.created, result.duplicates))
            except DomainError as error:
                outcomes.append([(e.code, e.field, e.index) for e in error.errors])

    # then the second batch recorded nothing and said why; the others count once
    assert outcomes == [(5, 0), [("external_id_conflict", "external_id", 5)], (5, 1)]
    with company_context(org.company.id):
        assert sorted(KpiAction.objects.values_list("external_id", flat=True)) == sorted(
            ["crm-1"] + [f"b-{n}" for n in (*range(5), *range(10, 15))]
        )
        incremental = _snapshot()
        assert services.aggregates_rebuild().corrected == 0
        assert _snapshot() == incremental
        assert sum(row[5] for row in incremental[0]) == 11


# --- Time zone (R6) ---------------------------------------------------------------------------------


def test_an_action_late_on_the_last_local_day_counts_in_that_month(org):
    # 23:30 in Moscow on 30 November is 20:30 UTC; 00:30 on 1 December is 21:30 UTC on 30 November
    with company_context(org.company.id):
        services.actions_record(
            items=[
                {
                    "kpi": "deals",
                    "user": "ann@acme.example",
                    "value": "1",
                    "occurred_at": "2026-11-30T23:30:00+03:00",
                },
                {
                    "kpi": "deals",
                    "user": "ann@acme.example",
                    "value": "2",
                    "occurred_at": "2026-11-30T21:30:00+00:00",
                },
            ],
            now=datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC),
        )
        november = leaderboard(period="month", day=datetime.date(2026, 11, 1))
        december = leaderboard(period="month", day=datetime.date(2026, 12, 1))
    assert [(row.member_id, row.points) for row in november.rows] == [(org.ann.user_id, Decimal("10.00"))]
    assert [(row.member_id, row.points) for row in december.rows] == [(org.ann.user_id, Decimal("20.00"))]


# --- Voiding (R5) and KPIs that stop counting (R6) --------------------------------------------------


def test_a_voided_action_stops_counting_and_keeps_who_and_why(org, make_member):
    admin = make_member(org.company, Role.ADMIN, email="boss@acme.example")
    result = record(org, [{"kpi": "deals", "user": "ann@acme.example", "value": "1"}])
    with company_context(org.company.id):
        action = KpiAction.objects.get(id=result.results[0]["id"])
        services.action_void(action=action, reason="typo", voided_by=admin)
        action.refresh_from_db()
        assert (action.void_reason, action.voided_by_id) == ("typo", admin.user_id)
        assert RatingTotal.objects.get(period="all").points == 0
        assert DailyTotal.objects.get().actions == 0
        with pytest.raises(DomainError) as excinfo:
            services.action_void(action=action, reason="again")
        assert excinfo.value.code == "already_voided"


def test_a_kpi_leaving_the_rating_takes_its_points_out_and_back(org):
    record(
        org,
        [
            {"kpi": "deals", "user": "ann@acme.example", "value": "1"},
            {"kpi": "calls", "user": "ann@acme.example", "value": "10"},
        ],
    )
    with company_context(org.company.id):
        assert RatingTotal.objects.get(period="week").points == Decimal("12.00")
        kpi_services.kpi_update(kpi=org.deals, in_rating=False)
        assert RatingTotal.objects.get(period="week").points == Decimal("2.00")
        kpi_services.kpi_update(kpi=org.deals, in_rating=True)
        assert RatingTotal.objects.get(period="week").points == Decimal("12.00")
        kpi_services.kpi_update(kpi=org.calls, status="hidden")
        assert RatingTotal.objects.get(period="week").points == Decimal("10.00")


# --- Leaderboards and the rebuild against brute force (R6, R7) ----------------------------------------


def _brute_force(actions, kpis, start, end, members=None):
    counting = {kpi.id for kpi in kpis if kpi.counts_in_rating}
    totals: dict[int, Decimal] = {}
    for action in actions:
        if action.voided_at or action.kpi_id not in counting or not start <= action.day <= end:
            continue
        if members is not None and action.member_id not in members:
            continue
        totals[action.member_id] = totals.get(action.member_id, Decimal(0)) + action.points
    ordered = sorted(((m, p) for m, p in totals.items() if p > 0), key=lambda pair: (-pair[1], pair[0]))
    ranks = []
    for position, (member_id, points) in enumerate(ordered):
        rank = ranks[-1][0] if position and points == ordered[position - 1][1] else position + 1
        ranks.append((rank, member_id, points))
    return ranks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leaderboards_and_the_rebuild_match_brute_force_on_random_data(org, make_member, seed):
    rng = random.Random(seed)
    people = [org.ann, org.bob, org.cid, org.dan] + [
        make_member(
            org.company,
            Role.MEMBER,
            email=f"p{seed}-{n}@acme.example",
            team=rng.choice([org.alpha, org.beta, None]),
        )
        for n in range(12)
    ]
    with company_context(org.company.id):
        extra = make_active_kpi(
            org.company, integration_name="meetings", in_rating=True, rating_units="0.5", rating_points=3
        )
        kpis = [org.calls, org.deals, extra]
        items = []
        for _n in range(300):
            moment = datetime.datetime(2026, 1, 1, tzinfo=MOSCOW) + datetime.timedelta(
                minutes=rng.randrange(0, 60 * 24 * 320)
            )
            items.append(
                {
                    "kpi": rng.choice(kpis),
                    "user": rng.choice(people),
                    "value": str(rng.choice([1, 2, 3, 5])),  # small values: many ties
                    "occurred_at": moment.isoformat(),
                }
            )
        services.actions_record(items=items, now=NOW)
        for action in rng.sample(list(KpiAction.objects.all()), 30):
            services.action_void(action=action, reason="test")
        kpi_services.kpi_update(kpi=extra, in_rating=False)
        kpi_services.kpi_update(kpi=org.deals, status="hidden")
        kpi_services.kpi_update(kpi=org.deals, status="active")
        kpi_services.kpi_update(kpi=org.calls, status="hidden")
        kpis = [type(k).objects.get(id=k.id) for k in kpis]
        actions = list(KpiAction.objects.all())
        incremental = _snapshot()
        services.aggregates_rebuild()
        assert _snapshot() == incremental

        for period in ("week", "month", "quarter", "year", "all"):
            for day in (datetime.date(2026, 3, 14), datetime.date(2026, 11, 2)):
                start = period_starts(day)[["week", "month", "quarter", "year", "all"].index(period)][1]
                board = leaderboard(period=period, day=day, limit=1000, viewer=org.ann)
                end = board.end or datetime.date(2100, 1, 1)
                expected = _brute_force(actions, kpis, start, end)
                assert [(r.rank, r.member_id, r.points) for r in board.rows] == expected
                assert board.count == len(expected)
                # a page in the middle keeps its ranks
                page = leaderboard(period=period, day=day, limit=3, offset=2)
                assert [(r.rank, r.member_id, r.points) for r in page.rows] == expected[2:5]
                mine = next(((rank, points) for rank, m, points in expected if m == org.ann.user_id), None)
                if mine:
                    assert (board.me.rank, board.me.points) == mine
                # every viewer's rank and every page's first rank, from either end of the board
                ranks = {m: (rank, points) for rank, m, points in expected}
                for person in people:
                    me = leaderboard(period=period, day=day, limit=1, viewer=person).me
                    assert (me.rank, me.points) == ranks.get(person.user_id, (len(expected) + 1, 0))
                for offset in range(len(expected)):
                    [row] = leaderboard(period=period, day=day, limit=1, offset=offset).rows
                    assert (row.rank, row.member_id, row.points) == expected[offset]
                team = leaderboard(period=period, day=day, scope=Scope("team", org.alpha.id), limit=1000)
                alpha = {p.user_id for p in people if p.team_id == org.alpha.id}
                assert [(r.rank, r.member_id, r.points) for r in team.rows] == _brute_force(
                    actions, kpis, start, end, alpha
                )
        # Ranges read whole years, quarters, months and weeks and the edge days (R6).
        for first, last in [
            (datetime.date(2026, 2, 10), datetime.date(2026, 6, 3)),
            (datetime.date(2025, 12, 30), datetime.date(2026, 11, 2)),
            (datetime.date(2026, 3, 14), datetime.date(2026, 3, 14)),
        ]:
            expected = _brute_force(actions, kpis, first, last)
            ranged = leaderboard_range(start=first, end=last, limit=1000, viewer=org.ann)
            assert [(r.rank, r.member_id, r.points) for r in ranged.rows] == expected
            assert ranged.count == len(expected)
            mine = next(((rank, points) for rank, m, points in expected if m == org.ann.user_id), None)
            assert (ranged.me.rank, ranged.me.points) == (mine or (len(expected) + 1, Decimal("0.00")))
            page = leaderboard_range(start=first, end=last, limit=3, offset=2)
            assert [(r.rank, r.member_id, r.points) for r in page.rows] == expected[2:5]
            team = leaderboard_range(start=first, end=last, scope=Scope("team", org.alpha.id), limit=1000)
            alpha = {p.user_id for p in people if p.team_id == org.alpha.id}
            assert [(r.rank, r.member_id, r.points) for r in team.rows] == _brute_force(
                actions, kpis, first, last, alpha
            )


def _snapshot():
    daily = sorted(
        (d.member_id, d.kpi_id, d.day, d.value, d.points, d.actions)
        for d in DailyTotal.objects.all()
        if d.actions or d.value or d.points
    )
    rating = sorted((r.period, r.start, r.member_id, r.points) for r in RatingTotal.objects.all() if r.points)
    boards = sorted((b.period, b.start, b.people) for b in RatingBoard.objects.all() if b.people)
    company = sorted(
        (c.kpi_id, c.day, c.value, c.points, c.actions)
        for c in CompanyDailyTotal.objects.all()
        if c.actions or c.value or c.points
    )
    # the company's day equals the sum of its people's (D3 reads it instead of theirs)
    summed: dict = {}
    for _member_id, kpi_id, day, value, points, actions in daily:
        entry = summed.setdefault((kpi_id, day), [0, 0, 0])
        entry[0], entry[1], entry[2] = entry[0] + value, entry[1] + points, entry[2] + actions
    assert company == sorted((*key, *amounts) for key, amounts in summed.items() if any(amounts))
    return daily, rating, boards, company, _department_days(daily)


def _department_days(daily) -> list:
    """The departments' days as kept, checked against their people's (where they are now)."""
    kept = sorted(
        (d.department_id, d.kpi_id, d.day, d.value, d.points, d.actions)
        for d in DepartmentDailyTotal.objects.all()
        if d.actions or d.value or d.points
    )
    placed = dict(Member.objects.values_list("user_id", "department_id"))
    summed: dict = {}
    for member_id, kpi_id, day, value, points, actions in daily:
        if placed[member_id] is not None:
            entry = summed.setdefault((placed[member_id], kpi_id, day), [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + value, entry[1] + points, entry[2] + actions
    assert kept == sorted((*key, *amounts) for key, amounts in summed.items() if any(amounts))
    # and their months are their days rolled up, lows and highs too
    months: dict = {}
    for d in DepartmentDailyTotal.objects.all():
        key = (d.department_id, d.kpi_id, d.day.replace(day=1))
        entry = months.setdefault(key, [0, 0, 0, None, None])
        entry[0], entry[1], entry[2] = entry[0] + d.value, entry[1] + d.points, entry[2] + d.actions
        if d.low is not None:
            entry[3] = d.low if entry[3] is None else min(entry[3], d.low)
            entry[4] = d.high if entry[4] is None else max(entry[4], d.high)
    assert sorted(
        (m.department_id, m.kpi_id, m.month, m.value, m.points, m.actions, m.low, m.high)
        for m in DepartmentMonthTotal.objects.all()
        if m.actions or m.value or m.points
    ) == sorted((*key, *entry) for key, entry in months.items() if any(entry[:3]))
    # and the teams' months are their people's days (where they are now) rolled up
    teamed = dict(Member.objects.filter(team__isnull=False).values_list("user_id", "team_id"))
    team_months: dict = {}
    for member_id, kpi_id, day, value, points, actions in daily:
        if member_id in teamed:
            entry = team_months.setdefault((teamed[member_id], kpi_id, day.replace(day=1)), [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + value, entry[1] + points, entry[2] + actions
    assert sorted(
        (m.team_id, m.kpi_id, m.month, m.value, m.points, m.actions)
        for m in TeamMonthTotal.objects.all()
        if m.actions or m.value or m.points
    ) == sorted((*key, *entry) for key, entry in team_months.items() if any(entry))
    return kept


def test_department_totals_follow_people_who_move_in_every_way(org, make_member):
    """D3/O3: a department's figures are its people's, wherever they achieved them; each way
    people change department carries their totals, and a rebuild finds nothing to correct."""
    rng = random.Random(7)
    ed = make_member(org.company, Role.MEMBER, email="ed@acme.example", team=org.alpha)
    people = [org.ann, org.bob, org.cid, org.dan, ed]

    def record_some(count):
        items = [
            {
                "kpi": rng.choice(["calls", "deals"]),
                "user": rng.choice(people).user.email,
                "value": str(rng.randint(1, 9)),
                "occurred_at": (NOW - datetime.timedelta(hours=rng.randrange(0, 24 * 60))).isoformat(),
            }
            for _n in range(count)
        ]
        services.actions_record(items=items, now=NOW)

    def fresh(member):
        return Member.objects.get(user_id=member.user_id)

    with company_context(org.company.id):
        support = org_services.department_create(name="Support")
        gamma = org_services.team_create(name="Gamma", department=support)
        record_some(60)
        services.action_void(action=KpiAction.objects.filter(member=org.ann).first(), reason="typo")
        sales_before = _snapshot()[-1]
        assert {row[0] for row in sales_before} == {org.sales.id}  # dan is in no department

        org_services.member_update(member=fresh(org.ann), department=support)
        _snapshot()
        org_services.members_move(members=[fresh(org.bob)], team=gamma)
        _snapshot()
        org_services.team_update(team=org.beta, department=support)  # cid goes along
        _snapshot()
        org_services.team_delete(team=org.alpha, move_to=gamma)  # ed
        _snapshot()
        org_services.member_update(member=fresh(org.dan), department=org.sales)
        record_some(40)
        moved = _snapshot()[-1]
        assert {row[0] for row in moved} == {org.sales.id, support.id}
        org_services.department_delete(department=support, move_to=org.sales)
        assert {row[0] for row in _snapshot()[-1]} == {org.sales.id}
        assert not DepartmentDailyTotal.objects.filter(department_id=support.id).exists()
        assert not DepartmentMonthTotal.objects.filter(department_id=support.id).exists()
        org_services.department_delete(department=org.sales)  # everyone is in no department now
        assert _snapshot()[-1] == []
        record_some(20)
        assert _snapshot()[-1] == []
        assert services.aggregates_rebuild().corrected == 0


# --- Concurrency on PostgreSQL (R4) -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_from_two_clients_at_once_counts_once(company, make_member):
    make_member(company, Role.MEMBER, email="ann@acme.example")
    with company_context(company.id):
        make_active_kpi(company, integration_name="deals", in_rating=True, rating_points=10)
    for round_ in range(5):
        batch = [
            {
                "kpi": "deals",
                "user": "ann@acme.example",
                "value": "1",
                "external_id": f"r{round_}-{n}",
                "occurred_at": "2026-11-02T10:00:00+03:00",
            }
            for n in range(50)
        ]
        barrier = threading.Barrier(2)
        outcomes: list = [None, None]

        def run(position: int, barrier=barrier, outcomes=outcomes, batch=batch) -> None:
            try:
                with company_context(company.id):
                    barrier.wait(timeout=10)
                    outcomes[position] = services.actions_record(items=batch, now=NOW)
            except Exception as error:  # reported by the assertion below
                outcomes[position] = error
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted((o.created, o.duplicates) for o in outcomes) == [(0, 50), (50, 0)], outcomes
    with company_context(company.id):
        assert KpiAction.objects.count() == 250
        assert RatingTotal.objects.get(period="all").points == Decimal("2500.00")


def test_objects_given_instead_of_names_are_looked_up_again(org, other_company, make_member):
    """A caller passing a Member or Kpi object gets the same checks as one passing names."""
    from orgs.services import member_update

    eve = make_member(other_company, Role.MEMBER, email="eve@globex.example")
    with company_context(other_company.id):
        foreign = make_active_kpi(other_company, integration_name="globex_kpi")
    with company_context(org.company.id):
        member_update(member=org.bob, is_active=False)
    with pytest.raises(DomainError) as excinfo:
        record(
            org,
            [
                {"kpi": org.calls, "user": eve, "value": "1"},
                {"kpi": foreign, "user": org.ann, "value": "1"},
                {"kpi": org.calls, "user": org.bob, "value": "1"},
            ],
        )
    assert errors_of(excinfo) == [
        ("unknown_user", "user", 0),
        ("unknown_kpi", "kpi", 1),
        ("unknown_user", "user", 2),
    ]
