"""The load benchmark (``bench.load``, issue 8) cannot rot unnoticed: its driver signs in through the
login form, runs its mix against a live server for a couple of seconds with no error, and its
consistency check finds every acknowledged action recorded once; its percentiles and report are
right. The figures themselves come from ``make bench-load``, never from a test."""

import pytest

from bench.load import (
    Recorded,
    Tally,
    check_aggregates,
    check_recorded,
    drive,
    load_plan,
    page_label,
    percentiles,
    report_lines,
    server_errors,
)
from kpis.tests.factories import make_active_kpi
from orgs.models import Member, Role
from orgs.services import department_create, team_create
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory


def _organization(company) -> None:
    """Two departments of two teams, three people with external ids in each team, a company KPI
    and a department-level KPI, both in the rating."""
    with company_context(company.id):
        first = None
        for d in range(2):
            department = department_create(name=f"Department {d}")
            first = first or department
            for t in range(2):
                team = team_create(name=f"Team {d}{t}", department=department)
                for n in range(3):
                    MemberFactory(team=team, external_id=f"E{d}{t}{n}")
        make_active_kpi(company, integration_name="calls", in_rating=True)
        make_active_kpi(
            company, integration_name="audits", in_rating=True, level="department", department=first
        )


@pytest.mark.postgres  # the benchmark's database; the embedded SQLite shares one connection between threads
@pytest.mark.django_db(transaction=True)
def test_the_mix_runs_without_error_and_every_acknowledged_action_is_recorded_once(live_server, company):
    """I1/R4 through the real stack: tokens post actions with external ids, each role's pages
    answer 200 to a session signed in through the form (O4), and the run's actions in the database
    are exactly the acknowledged ones, their aggregates consistent."""
    _organization(company)
    host, port = live_server.url.removeprefix("http://").split(":")
    plan = load_plan(company, clients=4, host=host, port=int(port), run="t1", forwarded=False)
    assert [client.role for client in plan.clients] == ["admin", "manager", "lead", "member"]

    warmup, reference, mix = drive(plan, duration=2, reference=0.3)

    assert warmup.errors == {}
    assert reference.errors == {}
    assert reference.latencies["healthz"]
    assert mix.errors == {}, mix.errors
    assert {"action post", "action batch", "ratings read"} <= set(warmup.latencies)
    assert sum(len(samples) for samples in mix.latencies.values()) > 10
    # every page of every role answered 200 after the sign-in through the form (the warm-up asks each)
    pages = {f"page {page_label(path)}" for client in plan.clients for path in client.pages}
    assert len(pages) == 12
    assert pages <= set(warmup.latencies)
    assert {status for label in pages for status in warmup.statuses[label]} == {200}
    assert mix.created > 0
    assert (mix.duplicates, mix.retries) == (0, 0)
    with company_context(company.id):
        recorded = check_recorded("t1", warmup.acknowledged + mix.acknowledged)
        created = warmup.created + mix.created
        assert recorded == Recorded(rows=created, acknowledged=created, lost=0, unacknowledged=0, doubled=0)
        keys, differing, corrected = check_aggregates("t1")
        assert keys > 0
        assert (differing, corrected) == (0, 0)
        # the sign-in people: the roles the pages are asked as
        roles = dict(
            Member.objects.filter(user__email__in=[c.email for c in plan.clients]).values_list(
                "user__email", "role"
            )
        )
    assert sorted(roles.values()) == sorted([Role.ADMIN, Role.MANAGER, Role.LEAD, Role.MEMBER])


@pytest.mark.django_db
def test_the_check_sees_an_action_lost_one_never_acknowledged_and_a_double(company):
    """What the check reports when the database and the answers disagree (the ids are the run's)."""
    _organization(company)
    from ratings.services import actions_record

    with company_context(company.id):
        actions_record(
            items=[
                {"kpi": "calls", "user": "E000", "value": "1", "external_id": f"load-t2-0-{n}"}
                for n in (1, 2)
            ]
        )
        answered = ["load-t2-0-1", "load-t2-0-3", "load-t2-0-3"]
        assert check_recorded("t2", answered) == Recorded(
            rows=2, acknowledged=2, lost=1, unacknowledged=1, doubled=1
        )
        assert not check_recorded("t2", answered).ok
        assert check_recorded("t2", ["load-t2-0-1", "load-t2-0-2"]).ok


def test_percentiles_are_nearest_rank():
    samples = [n / 1000 for n in range(100, 0, -1)]  # 0.001 .. 0.100, shuffled order
    assert percentiles(samples) == (0.050, 0.095, 0.099)
    assert percentiles([0.2]) == (0.2, 0.2, 0.2)
    assert percentiles([0.1, 0.3]) == (0.1, 0.3, 0.3)
    assert percentiles([]) == (0.0, 0.0, 0.0)


def test_the_report_gives_rates_percentiles_and_errors_per_kind_and_overall():
    tally = Tally(elapsed=2.0)
    tally.latencies["action post"] = [0.01] * 9 + [0.5]
    tally.statuses["action post"].update({201: 9, 500: 1})
    tally.errors["action post: 500"] = 1
    tally.latencies["page home"] = [0.02] * 4
    tally.statuses["page home"][200] = 4
    tally.errors["page: ConnectionResetError"] = 1
    lines = report_lines(tally)
    post = next(line for line in lines if line.strip().startswith("action post"))
    assert "10      5.0/s" in post
    assert "p50    10.0" in post
    assert "p99   500.0 ms" in post
    assert post.endswith("errors 1")
    page = next(line for line in lines if line.strip().startswith("page "))
    assert "4      2.0/s" in page
    assert page.endswith("errors 1")  # the connection error counts for its kind
    assert "home" in lines[lines.index(page) + 1]
    overall = lines[-1]
    assert overall.strip().startswith("all")
    assert "14      7.0/s" in overall
    assert overall.endswith("errors 2")
    assert server_errors(tally) == 1


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/dashboards/company/?period=month", "company dashboard, month"),
        ("/dashboards/departments/12/?period=quarter", "department dashboard, quarter"),
        ("/dashboards/teams/3/?period=year", "team dashboard, year"),
        ("/leaderboard/?scope=department:4", "leaderboard, department"),
        ("/leaderboard/?period=month", "leaderboard, company, month"),
        ("/people/7/", "profile"),
        ("/", "home"),
    ],
)
def test_pages_are_reported_by_what_they_show(path, label):
    assert page_label(path) == label
