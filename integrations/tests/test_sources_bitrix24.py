"""A Bitrix24 integration source end to end (issue 20): the real connector against Bitrix24-format
answers on 127.0.0.1 through an inbound webhook; deals won and calls and meetings recorded for the
people whose external id is the Bitrix24 user, exactly once, the cursor stored with the commit."""

import datetime
from decimal import Decimal

import pytest

from integrations import services
from integrations.models import ImportStatus
from integrations.tests.fixture_server import bitrix_list, json_answer, loopback_only_fixture, server_fixture  # noqa: F401  # fixtures
from integrations.tests.runs import run
from kpis.tests.factories import make_active_kpi
from orgs.tenancy import company_context
from ratings.models import ActionSource, KpiAction

TOKEN = "w3bh00k5ecret"
REST = f"/rest/7/{TOKEN}"


@pytest.fixture
def crm(acme, make_member):
    """Acme's two sellers, Bitrix24 users 15 and 21 (their external ids), and the KPI ``won``."""
    sam = make_member(acme.company, email="sam@acme.example", external_id="15")
    kim = make_member(acme.company, email="kim@acme.example", external_id="21")
    with company_context(acme.company.id):
        won = make_active_kpi(acme.company, integration_name="won", in_rating=True)
        meetings = make_active_kpi(
            acme.company, integration_name="meetings", in_rating=True, rating_units="1", rating_points=1
        )
    return acme, sam, kim, won, meetings


def deal(number: int, *, won: bool = True, modified: str | None = None) -> dict:
    """A deal as crm.deal.list lists it: odd ones Sam's (15), even ones Kim's (21)."""
    return {
        "ID": str(number),
        "TITLE": f"Deal #{number}",
        "STAGE_ID": "WON" if won else "LOSE",
        "STAGE_SEMANTIC_ID": "S" if won else "F",
        "OPPORTUNITY": f"{number}00.00",
        "CURRENCY_ID": "RUB",
        "ASSIGNED_BY_ID": "15" if number % 2 else "21",
        "CLOSEDATE": f"2026-02-{1 + number % 28:02d}T18:00:00+03:00",
        "DATE_MODIFY": modified or f"2026-02-{1 + number % 28:02d}T18:05:00+03:00",
    }


def activity(number: int, type_id: str, *, person: str = "15", completed: str = "Y") -> dict:
    return {
        "ID": str(number),
        "TYPE_ID": type_id,  # 1 a meeting, 2 a call, 4 an e-mail
        "SUBJECT": f"Activity {number}",
        "RESPONSIBLE_ID": person,
        "COMPLETED": completed,
        "START_TIME": "2026-02-03T10:00:00+03:00",
        "END_TIME": "2026-02-03T10:30:00+03:00",
        "LAST_UPDATED": f"2026-02-{number:02d}T12:00:00+03:00",
    }


def make_source(acme, server, *, name="Bitrix24 deals", mapping, **settings):
    with company_context(acme.company.id):
        return services.integration_source_create(
            name=name,
            kind="bitrix24",
            settings=settings,
            credentials={"webhook_url": server.url(f"{REST}/")},
            mapping={"person_key": "external_id", **mapping},
        )


DEALS_WON = {"person": "ASSIGNED_BY_ID", "kpi_fixed": "won", "value": "OPPORTUNITY", "time": "TIME"}


def recorded(company, **filters) -> list[tuple]:
    with company_context(company.id):
        actions = KpiAction.objects.filter(**filters).values_list(
            "external_id", "member__external_id", "kpi__integration_name", "value", "source"
        )
        return sorted(actions, key=lambda action: int(action[0].rsplit(":", 1)[1]))


def test_deals_won_are_recorded_once_over_pages_of_50_and_then_incrementally(crm, server, clock, sleeps):
    # given a portal with 120 deals won and 10 lost
    acme, sam, kim, won, _meetings = crm
    deals = [deal(n) for n in range(1, 121)] + [deal(n, won=False) for n in range(121, 131)]
    server.route(f"{REST}/crm.deal.list", bitrix_list(deals))
    source = make_source(acme, server, mapping=DEALS_WON)
    # when it runs
    first = run(source)
    # then it asked for deals won only, by pages of 50 from start 0, 50, 100
    hits = server.hits(f"{REST}/crm.deal.list")
    assert [hit.param("start") for hit in hits] == ["0", "50", "100"]
    assert {hit.param("filter[STAGE_SEMANTIC_ID]") for hit in hits} == {"S"}
    assert all(hit.param("filter[>=DATE_MODIFY]") is None for hit in hits)
    # and each deal won is recorded once, for its responsible person, its amount as the value
    assert (first.status, first.total_rows, first.created, first.duplicates) == (
        ImportStatus.SUCCEEDED,
        120,
        120,
        0,
    )
    actions = recorded(acme.company)
    assert actions == [
        (f"src:{source.id}:{n}", person, "won", Decimal(f"{n}00.00"), ActionSource.INTEGRATION)
        for n, person in zip(range(1, 121), ["15", "21"] * 60, strict=True)
    ]
    with company_context(acme.company.id):
        assert KpiAction.objects.filter(member=sam).count() == 60
        assert KpiAction.objects.filter(member=kim).count() == 60
        assert set(KpiAction.objects.values_list("kpi", flat=True)) == {won.id}
        # the deal's close date is the action's time
        assert KpiAction.objects.get(external_id=f"src:{source.id}:3").occurred_at == datetime.datetime(
            2026, 2, 4, 15, 0, tzinfo=datetime.UTC
        )
    # and the cursor is the latest DATE_MODIFY read, as Bitrix24 wrote it
    assert source.cursor == "2026-02-28T18:05:00+03:00"
    # when five deals are won later, one modified in the cursor's very second, and it runs again
    deals += [deal(n, modified="2026-02-28T19:00:00+03:00") for n in range(131, 135)]
    deals.append(deal(135, modified="2026-02-28T18:05:00+03:00"))
    server.requests.clear()
    second = run(source)
    # then it asked Bitrix24 only for the deals modified at or after the stored cursor
    (hit,) = server.hits(f"{REST}/crm.deal.list")
    assert hit.param("filter[>=DATE_MODIFY]") == "2026-02-28T18:05:00+03:00"
    assert hit.param("filter[STAGE_SEMANTIC_ID]") == "S"
    # and recorded only the new ones; the deals modified at the cursor's time again are duplicates
    at_the_cursor = sum(1 for d in deals[:120] if d["DATE_MODIFY"] == "2026-02-28T18:05:00+03:00")
    assert at_the_cursor == 4  # deals 27, 55, 83, 111
    assert (second.status, second.created, second.duplicates) == (ImportStatus.SUCCEEDED, 5, 4)
    assert len(recorded(acme.company)) == 125
    assert source.cursor == "2026-02-28T19:00:00+03:00"
    assert sleeps == []


def test_the_rate_limit_is_waited_out_and_the_run_goes_on(crm, server, clock, sleeps):
    # given a portal that first answers QUERY_LIMIT_EXCEEDED, then its deals
    acme, *_ = crm
    limit = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    server.route(
        f"{REST}/crm.deal.list",
        json_answer(limit, status=503),
        bitrix_list([deal(n) for n in range(1, 4)]),
    )
    source = make_source(acme, server, mapping=DEALS_WON)
    # when it runs
    job = run(source)
    # then it backed off once and recorded every deal once
    assert sleeps == [1.0]
    assert len(server.hits(f"{REST}/crm.deal.list")) == 2
    assert (job.status, job.created, job.errors) == (ImportStatus.SUCCEEDED, 3, [])
    assert [action[1:3] for action in recorded(acme.company)] == [("15", "won"), ("21", "won"), ("15", "won")]


def test_an_unknown_responsible_person_fails_the_run_naming_the_deal(crm, server, clock, sleeps):
    # given a deal won by a Bitrix24 user who is nobody in the company
    acme, *_ = crm
    stranger = {**deal(2), "ASSIGNED_BY_ID": "99"}
    server.route(f"{REST}/crm.deal.list", bitrix_list([deal(1), stranger, deal(3)]))
    source = make_source(acme, server, mapping=DEALS_WON)
    # when it runs
    job = run(source)
    # then the run failed on that deal's position and field, recording nothing and keeping no cursor
    assert job.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in job.errors] == [(2, "ASSIGNED_BY_ID")]
    assert "99" in job.errors[0]["message"]
    assert recorded(acme.company) == []
    assert source.cursor == ""


def test_calls_and_meetings_count_one_each_into_each_sources_kpi(crm, server, clock, sleeps):
    # given completed calls and meetings, an e-mail and a call not yet completed
    acme, *_ = crm
    activities = [
        activity(1, "2"),
        activity(2, "1", person="21"),
        activity(3, "2", person="21"),
        activity(4, "4"),
        activity(5, "2", completed="N"),
        activity(6, "1"),
        activity(7, "2"),
    ]
    server.route(f"{REST}/crm.activity.list", bitrix_list(activities))
    # and a source per kind of activity, each counting 1 per record into its own KPI
    calls, meetings = (
        make_source(
            acme,
            server,
            name=f"Bitrix24 {kind}",
            entity="activities",
            activity_types=kind,
            mapping={"person": "RESPONSIBLE_ID", "time": "TIME", "kpi_fixed": kind},
        )
        for kind in ("calls", "meetings")
    )
    # when both run, twice
    first_calls, first_meetings = run(calls), run(meetings)
    again_calls, again_meetings = run(calls), run(meetings)
    # then each asked for its completed type only
    hits = server.hits(f"{REST}/crm.activity.list")
    assert [hit.params["filter[@TYPE_ID][]"] for hit in hits] == [["2"], ["1"], ["2"], ["1"]]
    assert {hit.param("filter[COMPLETED]") for hit in hits} == {"Y"}
    # and each completed call and meeting counts 1, into its source's KPI, once
    assert (first_calls.status, first_calls.created) == (ImportStatus.SUCCEEDED, 3)
    assert (first_meetings.status, first_meetings.created) == (ImportStatus.SUCCEEDED, 2)
    assert recorded(acme.company, kpi__integration_name="calls") == [
        (f"src:{calls.id}:1", "15", "calls", 1, ActionSource.INTEGRATION),
        (f"src:{calls.id}:3", "21", "calls", 1, ActionSource.INTEGRATION),
        (f"src:{calls.id}:7", "15", "calls", 1, ActionSource.INTEGRATION),
    ]
    assert recorded(acme.company, kpi__integration_name="meetings") == [
        (f"src:{meetings.id}:2", "21", "meetings", 1, ActionSource.INTEGRATION),
        (f"src:{meetings.id}:6", "15", "meetings", 1, ActionSource.INTEGRATION),
    ]
    # and the second runs asked from each source's own cursor and recorded nothing again
    assert calls.cursor == "2026-02-07T12:00:00+03:00"
    assert meetings.cursor == "2026-02-06T12:00:00+03:00"
    assert [hit.param("filter[>=LAST_UPDATED]") for hit in hits] == [
        None,
        None,
        "2026-02-07T12:00:00+03:00",
        "2026-02-06T12:00:00+03:00",
    ]
    assert (again_calls.created, again_calls.duplicates) == (0, 1)
    assert (again_meetings.created, again_meetings.duplicates) == (0, 1)
