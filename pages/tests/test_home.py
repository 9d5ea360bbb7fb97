"""Pages of orgs (API.md "Pages"): sign-in, Home (D1) and the Organization section (O5), in the
visitor's language (PRODUCT D6)."""

import datetime
import re
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
    client.force_login(org.admin.user)
    html = client.get("/organization/").content.decode()
    assert "Support" in html
    assert "Eve Help" in html


def people_links(html: str) -> set[str]:
    return set(re.findall(r'href="/people/(\d+)/', html))


def team_people(html: str, team) -> list[str]:
    block = html.split(f'id="team-{team.id}"')[1].split("</ul>")[0]
    return re.findall(r"<li>(?:<a [^>]*>)?([^<]+?)(?:</a>)?(?: <span|</li>)", block)


def test_a_member_sees_their_teammates_by_name_as_the_team_dashboard_and_leaderboard_do(client, org):
    """Issue 18 (10). The rule, from O4 ("member: themselves") with D1 and R7: a member sees their
    own team as a whole (its dashboard, D1/D3) and its leaderboard (R7), which name every
    teammate; so the Organization page names them too, as the team dashboard's by-person
    breakdown and the leaderboard do. What is a person's own stays with O4: a teammate's profile
    (D2: history, actions, e-mail) opens for the people who manage them and for themselves only,
    so none of the three pages links a member to a teammate's profile, and that URL is a 404."""
    day = today_in(org.company).isoformat()
    alpha = [org.ann, org.bob, org.lead]
    record(org.company, *[(person, org.calls, number + 1, day) for number, person in enumerate(alpha)])
    client.force_login(org.ann.user)
    # when Ann opens the Organization page, her team's dashboard and its leaderboard
    organization = client.get("/organization/").content.decode()
    dashboard = client.get(f"/dashboards/teams/{org.alpha.id}/", {"by": "members"})
    board = client.get("/leaderboard/", {"scope": f"team:{org.alpha.id}"})
    # then all three name the same people: everyone in Alpha
    names = sorted(str(person.user) for person in alpha)
    assert sorted(team_people(organization, org.alpha)) == names
    assert sorted(row.name for row in dashboard.context["breakdown"].rows) == names
    assert sorted(str(row.member.user) for row in board.context["board"].rows) == names
    # and none links to anyone's profile but her own, which only she may open
    for html in (organization, dashboard.content.decode(), board.content.decode()):
        assert people_links(html) <= {str(org.ann.user_id)}
    assert str(org.ann.user_id) in people_links(organization)
    assert client.get(f"/people/{org.bob.user_id}/").status_code == 404
    # and no teammate's e-mail shows
    assert "bob@acme.example" not in organization
    # and nobody of another team: Beta's Cid and Support's Eve stay out
    assert "Cid Beta" not in organization
    assert "Eve Help" not in organization


@pytest.mark.parametrize(
    ("who", "linked"),
    [
        ("admin", {"admin", "manager", "lead", "ann", "bob", "cid", "eve"}),
        ("manager", {"manager", "lead", "ann", "bob", "cid"}),
        ("lead", {"lead", "ann", "bob"}),
        ("ann", {"ann"}),
    ],
)
def test_the_organization_page_links_exactly_the_profiles_each_role_may_open(client, org, who, linked):
    client.force_login(getattr(org, who).user)
    html = client.get("/organization/").content.decode()
    assert people_links(html) == {str(getattr(org, name).user_id) for name in linked}
    for name in ("admin", "manager", "lead", "ann", "bob", "cid", "eve"):
        status = client.get(f"/people/{getattr(org, name).user_id}/").status_code
        assert status == (200 if name in linked else 404), (who, name)


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

    pages = [(org.ann, "/"), (org.admin, "/organization/"), (org.ann, "/organization/")]
    before = [count(member, url) for member, url in pages]
    for number in range(15):
        person = make_member(
            company, email=f"p{number}@acme.example", team=org.alpha if number % 2 else org.beta
        )
        record(company, (person, org.calls, number + 1, day), (person, org.deals, 1, day))
    assert [count(member, url) for member, url in pages] == before


# --- Issue 18 (6): a manager's and an admin's Home show their units' figures ------------------------


def brute_force_total(company, kpi, people) -> Decimal:
    """The KPI's sum this month over the raw actions of ``people``, voided ones left out."""
    from ratings.models import KpiAction

    today = today_in(company)
    with company_context(company.id):
        actions = KpiAction.objects.filter(kpi=kpi, member__in=people, voided_at__isnull=True)
        return sum(
            (
                action.value
                for action in actions
                if (local := action.occurred_at.astimezone(company.zone).date()).month == today.month
                and local.year == today.year
            ),
            Decimal(0),
        )


def overview_totals(response) -> dict[str, dict[str, Decimal]]:
    return {
        overview["holder"].name: {figure.name: figure.total for figure in overview["figures"]}
        for overview in response.context["overviews"]
    }


def test_a_managers_home_shows_each_of_their_departments_figures_and_an_admins_the_companys(
    client, org, company
):
    from orgs.models import Member
    from orgs.services import department_set_managers

    # given this month's actions across both departments, one voided, and last month's
    today = today_in(company)
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).isoformat()
    day = today.isoformat()
    record(
        company,
        (org.ann, org.deals, 2, day),
        (org.bob, org.deals, 3, day),
        (org.cid, org.deals, 4, day),
        (org.eve, org.deals, 5, day),
        (org.ann, org.calls, 7, day),
        (org.eve, org.calls, 11, day),
        (org.cid, org.deals, 100, last_month),
        (org.admin, org.calls, 13, day),  # in no department
    )
    with company_context(company.id):
        from ratings.models import KpiAction
        from ratings.services import action_void

        action_void(action=KpiAction.objects.get(member=org.bob, kpi=org.deals), reason="typo")
        target_create(
            kpi=org.deals,
            period="month",
            start=today.replace(day=1),
            value="40",
            scope="department",
            department=org.sales,
        )
        department_set_managers(department=org.support, managers=[org.manager])
    # when the manager of Sales and Support opens Home
    client.force_login(org.manager.user)
    response = client.get("/")
    # then each department shows its figures, equal to the raw actions' sums
    totals = overview_totals(response)
    assert list(totals) == ["Sales", "Support"]
    for department in (org.sales, org.support):
        with company_context(company.id):
            people = list(Member.objects.filter(department=department))
        assert totals[department.name] == {
            "Calls made": brute_force_total(company, org.calls, people),
            "Deals won": brute_force_total(company, org.deals, people),
        }
    assert totals["Sales"]["Deals won"] == Decimal(6)
    # with the target and status, and a link to each department's dashboard
    sales = response.context["overviews"][0]["figures"]
    deals = next(figure for figure in sales if figure.name == "Deals won")
    assert deals.target == Decimal("40.00")
    assert deals.light != "none"
    html = response.content.decode()
    assert f'href="/dashboards/departments/{org.sales.id}/"' in html
    assert f'href="/dashboards/departments/{org.support.id}/"' in html
    assert f'id="department-{org.sales.id}-kpis"' in html
    # when the admin opens Home, the company's figures are every action's
    client.force_login(org.admin.user)
    response = client.get("/")
    with company_context(company.id):
        everyone = list(Member.objects.all())
    assert overview_totals(response) == {
        company.name: {
            "Calls made": brute_force_total(company, org.calls, everyone),
            "Deals won": brute_force_total(company, org.deals, everyone),
        }
    }
    assert 'href="/dashboards/company/"' in response.content.decode()
    # and a lead and a member get no unit overview but their team's
    for person in (org.lead, org.ann):
        client.force_login(person.user)
        response = client.get("/")
        assert response.context["overviews"] == []
        assert response.context["team"] == org.alpha


def test_a_managers_home_takes_the_same_queries_for_few_and_many_people(client, org, company, make_member):
    day = today_in(company).isoformat()
    record(company, (org.ann, org.calls, 1, day))

    def count(member) -> int:
        client.force_login(member.user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    before = [count(org.manager), count(org.admin)]
    for number in range(15):
        person = make_member(company, email=f"p{number}@acme.example", team=org.beta)
        record(company, (person, org.calls, number + 1, day), (person, org.deals, 1, day))
    assert [count(org.manager), count(org.admin)] == before
    assert max(before) <= 30
