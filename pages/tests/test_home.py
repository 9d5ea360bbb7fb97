"""Pages of orgs (API.md "Pages"): sign-in, Home (D1) and the Organization section (O5), in the
visitor's language (PRODUCT D6)."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kpis.selectors import period_starts
from kpis.services import target_create
from orgs.models import Role
from orgs.tenancy import company_context
from ratings.tests.pages_org import build_org, record


def test_the_sign_in_page_speaks_the_chosen_language(client, db):
    # given a visitor who chose Russian with the language switch
    client.post("/i18n/setlang/", {"language": "ru", "next": "/accounts/login/"})
    # when they open the sign-in page
    response = client.get("/accounts/login/")
    # then it is in Russian
    assert "Вход" in response.content.decode()
    assert 'lang="ru"' in response.content.decode()


def test_home_needs_a_signed_in_user(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signing_in_by_email_in_any_case_reaches_home(client, company, make_member):
    make_member(company, Role.MEMBER, email="ann@acme.example", first_name="Ann", password="sign-in-2026")
    response = client.post(
        "/accounts/login/", {"username": "Ann@ACME.example", "password": "sign-in-2026"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "Welcome, Ann" in response.content.decode()


# --- Home (D1) and the Organization section (O5) ------------------------------------------------------


@pytest.fixture
def org(company, make_member):
    return build_org(company, make_member)


def today_in(company) -> datetime.date:
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(company.time_zone))


def test_home_shows_my_values_targets_progress_points_rank_and_my_teams_metrics(client, org):
    # given Ann's monthly target of 40 calls, 10 calls of hers today and 30 of Bob's
    day = today_in(org.company)
    with company_context(org.company.id):
        target_create(
            kpi=org.calls,
            period="month",
            start=period_starts(day)["month"],
            value="40",
            scope="user",
            member=org.ann,
        )
    record(org.company, (org.ann, org.calls, 10, day.isoformat()), (org.bob, org.calls, 30, day.isoformat()))
    client.force_login(org.ann.user)
    response = client.get("/")
    # then her own value, target and progress are there
    calls = next(figure for figure in response.context["primary"] if figure.name == "Calls made")
    assert (calls.total, calls.target, calls.progress) == (Decimal(10), Decimal("40.00"), Decimal(25))
    # with her points and rank this month
    board = response.context["board"]
    assert (board.me.points, board.me.rank, board.count) == (Decimal("10.00"), 2, 2)
    html = response.content.decode()
    assert 'id="my-rank">2' in html
    # and her team's key metrics: Alpha's 40 calls
    team_calls = next(figure for figure in response.context["team_figures"] if figure.name == "Calls made")
    assert team_calls.total == Decimal(40)
    assert "Key metrics of Alpha" in html


def test_navigation_shows_each_role_only_what_it_may_open(client, org):
    expected = {
        "ann": ["Home", "My profile", "Dashboards", "Leaderboard", "Organization"],
        "lead": ["Home", "My profile", "Dashboards", "Leaderboard", "Organization", "Activity logger"],
        "manager": ["Home", "My profile", "Dashboards", "Leaderboard", "Organization", "Activity logger"],
        "admin": ["Home", "My profile", "Dashboards", "Leaderboard", "Organization", "Activity logger"],
    }
    for who, links in expected.items():
        client.force_login(getattr(org, who).user)
        html = client.get("/").content.decode()
        nav = html.split('class="main-nav"')[1].split("</nav>")[0]
        assert [label for label in links if f">{label}</a>" in nav] == links, who
        assert ("Activity logger" in nav) == (who != "ann"), who


def test_the_organization_page_shows_admins_managers_teams_and_people_within_reach(client, org):
    client.force_login(org.manager.user)
    html = client.get("/organization/").content.decode()
    assert "Ada Adler" in html  # the administrators, for everyone
    assert "Max Manager" in html
    assert "Lea Lead" in html
    assert "Cid Beta" in html
    assert "Ann Alpha" in html
    assert "Support" not in html
    assert "Eve Help" not in html
    client.force_login(org.ann.user)
    html = client.get("/organization/").content.decode()
    assert "Alpha" in html
    assert "Beta" not in html
    assert "Bob Alpha" not in html
    client.force_login(org.admin.user)
    html = client.get("/organization/").content.decode()
    assert "Support" in html
    assert "Eve Help" in html


def test_another_companys_admin_sees_none_of_our_organization(client, org, other_company, make_member):
    from orgs.models import Role

    boss = make_member(other_company, Role.ADMIN, email="boss@globex.example")
    client.force_login(boss.user)
    html = client.get("/organization/").content.decode()
    assert "Sales" not in html
    assert "Ada Adler" not in html
    assert "Ann Alpha" not in html


def test_home_and_organization_take_the_same_queries_for_few_and_many_people(
    client, org, company, make_member
):
    day = today_in(company).isoformat()
    record(company, (org.ann, org.calls, 1, day))

    def count(member, url):
        client.force_login(member.user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = [count(org.ann, "/"), count(org.admin, "/organization/")]
    for number in range(15):
        person = make_member(
            company, email=f"p{number}@acme.example", team=org.alpha if number % 2 else org.beta
        )
        record(company, (person, org.calls, number + 1, day), (person, org.deals, 1, day))
    assert [count(org.ann, "/"), count(org.admin, "/organization/")] == before
