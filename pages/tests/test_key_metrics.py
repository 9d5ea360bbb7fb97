"""Organization → Key Metrics (seed 001; PRODUCT K6, K8, O1, O4): the levels each role reaches, the
KPIs in force at each level with where they come from and their current target, and hiding,
showing and adding KPIs through the services, as each role may."""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis import services
from kpis.models import Kpi, KpiHide, Level
from kpis.tests.factories import make_active_kpi, make_kpi
from orgs.models import Role
from orgs.services import company_update, department_create, team_create
from orgs.tenancy import company_context
from ratings.tests.pages_org import build_org

# A Wednesday in a 31-day month: the primary KPIs' month is December, the secondary KPIs' week
# (the defaults, O1) is December 7–13.
TODAY = datetime.date(2026, 12, 9)


@pytest.fixture
def org(company, make_member, time_machine):
    time_machine.move_to(datetime.datetime(2026, 12, 9, 12, tzinfo=company.zone), tick=True)
    org = build_org(company, make_member)
    with company_context(company.id):
        org.pipeline = make_active_kpi(
            company, name={"en": "Pipeline", "ru": "Воронка"}, level="department", department=org.sales
        )
        org.draft = make_kpi(name={"en": "Draft pipeline"}, level="department", department=org.sales)
        org.demos = make_active_kpi(
            company, name={"en": "Demos", "ru": "Демо"}, kind="secondary", level="team", team=org.alpha
        )
        org.visits = make_active_kpi(
            company, name={"en": "Visits", "ru": "Визиты"}, level="team", team=org.beta
        )
        org.tickets = make_active_kpi(
            company, name={"en": "Tickets", "ru": "Заявки"}, level="department", department=org.support
        )
        org.company_draft = make_kpi(name={"en": "Company draft"})
        org.old = make_active_kpi(company, name={"en": "Old metric", "ru": "Старая"})
        services.kpi_archive(kpi=org.old)
        org.vip = make_active_kpi(
            company,
            name={"en": "VIP calls", "ru": "VIP звонки"},
            audience=services.Audience(members=[org.bob]),
        )
        services.kpi_hide(kpi=org.response_time, department=org.sales)
        services.kpi_hide(kpi=org.deals, team=org.alpha)
        services.kpi_hide(kpi=org.pipeline, team=org.alpha)
        services.kpi_hide(kpi=org.calls, team=org.helpdesk)
    return org


# --- The brute force: the K6 rules and the O4 roles, straight from the definitions ------------------


@dataclass(frozen=True)
class Unit:
    kind: str
    department: object = None
    team: object = None

    @property
    def url(self) -> str:
        if self.kind == Level.COMPANY:
            return "/organization/metrics/"
        return f"/organization/metrics/{self.kind}s/{(self.team or self.department).id}/"


def all_units(org) -> dict[str, Unit]:
    return {
        "Acme": Unit(Level.COMPANY),
        "Sales": Unit(Level.DEPARTMENT, org.sales),
        "Alpha": Unit(Level.TEAM, org.sales, org.alpha),
        "Beta": Unit(Level.TEAM, org.sales, org.beta),
        "Support": Unit(Level.DEPARTMENT, org.support),
        "Helpdesk": Unit(Level.TEAM, org.support, org.helpdesk),
    }


REACH = {  # O4: who runs (or, for a member, belongs to) which levels of build_org's Acme
    "admin": ["Acme", "Sales", "Alpha", "Beta", "Support", "Helpdesk"],
    "manager": ["Sales", "Alpha", "Beta"],
    "lead": ["Alpha"],
    "ann": ["Alpha"],
}


def expected_rows(org, who: str, unit: Unit) -> set[tuple]:
    """(name, kind, origin, hidden here, hidden by, in force) of every KPI ``who`` sees at ``unit``,
    from every KPI and hide of the company, read raw."""
    with company_context(org.company.id):
        kpis = list(Kpi.objects.all())
        hides = {(h.kpi_id, h.department_id, h.team_id) for h in KpiHide.objects.all()}
        audience = {kpi.id: list(kpi.audience.all()) for kpi in kpis}
    member = getattr(org, who)
    rows = set()
    for kpi in kpis:
        if kpi.archived_at is not None:
            continue
        own = kpi.level == unit.kind and (
            unit.kind == Level.COMPANY
            or (unit.kind == Level.DEPARTMENT and kpi.department_id == unit.department.id)
            or (unit.kind == Level.TEAM and kpi.team_id == unit.team.id)
        )
        from_company = kpi.level == Level.COMPANY and unit.kind != Level.COMPANY
        from_department = (
            kpi.level == Level.DEPARTMENT
            and unit.kind == Level.TEAM
            and kpi.department_id == unit.department.id
        )
        if not (own or from_company or from_department):
            continue
        hidden_here = (kpi.id, None, unit.team.id) in hides if unit.team else False
        if unit.kind == Level.DEPARTMENT:
            hidden_here = (kpi.id, unit.department.id, None) in hides
        hidden_by = unit.kind == Level.TEAM and (kpi.id, unit.department.id, None) in hides
        in_force = own or not (hidden_here or hidden_by)
        if member.role != Role.ADMIN and kpi.status != "active":
            continue  # the company lets no unit define KPIs here: only Active ones (K5)
        if member.role == Role.MEMBER:
            entries = audience[kpi.id]
            reaches = not entries or any(
                entry.member_id == member.user_id
                or entry.team_id == member.team_id
                or entry.department_id == member.department_id
                for entry in entries
            )
            if not (in_force and reaches):
                continue
        origin = "own" if own else ("company" if from_company else "department")
        rows.add(
            (
                kpi.name_en,
                kpi.kind,
                origin,
                hidden_here,
                unit.department.name if hidden_by else "",
                in_force,
            )
        )
    return rows


def shown_rows(response) -> set[tuple]:
    metrics = response.context["metrics"]
    return {
        (row.kpi.name_en, kind, row.origin, row.hidden_here, row.hidden_by, row.in_force)
        for kind, rows in (("primary", metrics.primary), ("secondary", metrics.secondary))
        for row in rows
    }


@pytest.mark.parametrize("who", list(REACH))
def test_each_role_sees_exactly_the_levels_and_kpis_it_reaches(client, org, who):
    # given the org's KPIs at every level, hidden here and there, one with a chosen audience
    units = all_units(org)
    client.force_login(getattr(org, who).user)
    # when they open Key Metrics
    response = client.get("/organization/metrics/")
    # then the tree has the levels their role reaches, from the top down, the top one open
    assert [level.name for level in response.context["tree"].levels()] == REACH[who]
    assert response.context["level"].name == REACH[who][0]
    # and each level they reach shows the KPIs in force there as the definitions say
    for name in REACH[who]:
        page = client.get(units[name].url)
        assert page.status_code == 200, name
        assert page.context["level"].name == name
        assert shown_rows(page) == expected_rows(org, who, units[name]), (who, name)
    # and every other level is not found
    for name in set(units) - set(REACH[who]) - {"Acme"}:
        assert client.get(units[name].url).status_code == 404, (who, name)


def test_a_team_shows_where_each_kpi_comes_from_and_what_is_hidden(client, org):
    client.force_login(org.admin.user)
    html = client.get(f"/organization/metrics/teams/{org.alpha.id}/").content.decode()
    row = {
        name: html.split(f'data-kpi="{kpi.id}"')[1].split("</tr>")[0]
        for name, kpi in (
            ("demos", org.demos),
            ("calls", org.calls),
            ("deals", org.deals),
            ("pipeline", org.pipeline),
            ("response", org.response_time),
        )
    }
    assert ">own<" in row["demos"]
    assert "inherited from the company" in row["calls"]
    assert "tag-hidden" not in row["calls"]
    assert "hidden here" in row["deals"]
    assert "inherited from the company" in row["deals"]
    assert "hidden here" in row["pipeline"]
    assert "inherited from Sales" in row["pipeline"]
    assert "hidden by Sales" in row["response"]
    # primary apart from secondary
    primary, secondary = html.split('id="primary-metrics"')[1].split('id="secondary-metrics"')
    assert f'data-kpi="{org.demos.id}"' in secondary
    assert f'data-kpi="{org.demos.id}"' not in primary
    assert f'data-kpi="{org.calls.id}"' in primary


def _share(value: str, days: int, of_days: int) -> Decimal:
    return (Decimal(value) * days / of_days).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_current_target_is_the_levels_for_the_companys_tracking_periods(client, org):
    # given targets of the company, of Sales and of Alpha (primary monthly, secondary weekly: O1)
    with company_context(org.company.id):
        services.target_create(kpi=org.calls, period="month", start=datetime.date(2026, 12, 1), value="1000")
        services.target_create(
            kpi=org.pipeline,
            period="quarter",
            start=datetime.date(2026, 10, 1),
            value="900",
            scope="department",
            department=org.sales,
        )
        services.target_create(
            kpi=org.demos,
            period="month",
            start=datetime.date(2026, 12, 1),
            value="310",
            scope="team",
            team=org.alpha,
        )
    client.force_login(org.admin.user)

    def target_of(url: str, kpi) -> Decimal | None:
        metrics = client.get(url).context["metrics"]
        return next(row.target for row in metrics.primary + metrics.secondary if row.kpi.id == kpi.id)

    # then the company's month, Sales' December share of its quarter, Alpha's week of its month
    assert target_of("/organization/metrics/", org.calls) == Decimal("1000.00")
    assert target_of(f"/organization/metrics/departments/{org.sales.id}/", org.pipeline) == _share(
        "900", 31, 92
    )
    assert target_of(f"/organization/metrics/teams/{org.alpha.id}/", org.demos) == _share("310", 7, 31)
    # and a level without a target of its own shows none
    assert target_of(f"/organization/metrics/departments/{org.sales.id}/", org.calls) is None


# --- Hiding and showing (K6), as each role may ----------------------------------------------------------


def _dashboard_kpis(client, team) -> set[int]:
    response = client.get(f"/dashboards/teams/{team.id}/")
    assert response.status_code == 200
    return {figure.kpi.id for figure in response.context["primary"] + response.context["secondary"]}


def test_a_manager_hides_an_inherited_kpi_for_their_team_and_its_dashboard_follows(client, org):
    # given a company that lets units define their KPIs
    company_update(company=org.company, units_define_kpis=True)
    client.force_login(org.manager.user)
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    assert org.calls.id in _dashboard_kpis(client, org.alpha)
    assert f"{alpha}kpis/{org.calls.id}/hide/" in client.get(alpha).content.decode()
    # when the manager hides "Calls made" for Alpha (a plain form post, no script)
    response = client.post(f"{alpha}kpis/{org.calls.id}/hide/", follow=True)
    # then the page says so and marks it hidden here, and Alpha's dashboard no longer has it
    assert response.redirect_chain == [(alpha, 302)]
    assert "“Calls made” is hidden for Alpha." in response.content.decode()
    row = next(row for row in response.context["metrics"].primary if row.kpi.id == org.calls.id)
    assert (row.hidden_here, row.in_force) == (True, False)
    assert org.calls.id not in _dashboard_kpis(client, org.alpha)
    assert org.calls.id in _dashboard_kpis(client, org.beta)
    # and showing it again brings it back
    client.post(f"{alpha}kpis/{org.calls.id}/unhide/")
    assert org.calls.id in _dashboard_kpis(client, org.alpha)


def test_a_lead_hides_for_their_team_and_a_kpi_of_the_level_itself_cannot_be_hidden(client, org):
    company_update(company=org.company, units_define_kpis=True)
    client.force_login(org.lead.user)
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    assert client.post(f"{alpha}kpis/{org.calls.id}/hide/").status_code == 302
    response = client.post(f"{alpha}kpis/{org.demos.id}/hide/", follow=True)
    assert "Only a KPI inherited from a level above can be hidden here." in response.content.decode()
    with company_context(org.company.id):
        assert set(KpiHide.objects.filter(team=org.alpha).values_list("kpi_id", flat=True)) == {
            org.deals.id,
            org.pipeline.id,
            org.calls.id,
        }


def test_hiding_is_refused_when_the_company_does_not_allow_it_and_to_members_always(client, org):
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    with company_context(org.company.id):
        before = KpiHide.objects.count()
    # the company does not let units define KPIs: no buttons, and a post is refused
    for who in ("manager", "lead"):
        client.force_login(getattr(org, who).user)
        html = client.get(alpha).content.decode()
        assert "Hide here" not in html
        assert "Show here" not in html
        assert "does not let departments and teams define" in html
        assert client.post(f"{alpha}kpis/{org.calls.id}/hide/").status_code == 403
        assert client.post(f"{alpha}kpis/{org.deals.id}/unhide/").status_code == 403
    # a member never, even when it does
    company_update(company=org.company, units_define_kpis=True)
    client.force_login(org.ann.user)
    html = client.get(alpha).content.decode()
    assert "Hide here" not in html
    assert 'id="add-kpi"' not in html
    assert client.post(f"{alpha}kpis/{org.calls.id}/hide/").status_code == 403
    assert client.get(f"{alpha}add/").status_code == 403
    with company_context(org.company.id):
        assert KpiHide.objects.count() == before
    # a company admin always, a department too
    client.force_login(org.admin.user)
    sales = f"/organization/metrics/departments/{org.sales.id}/"
    assert client.post(f"{sales}kpis/{org.response_time.id}/unhide/").status_code == 302
    with company_context(org.company.id):
        assert KpiHide.objects.count() == before - 1


def test_another_units_or_companys_ids_answer_not_found(client, org, other_company, make_member):
    company_update(company=org.company, units_define_kpis=True)
    with company_context(other_company.id):
        far_department = department_create(name="Far")
        far_team = team_create(name="Far team", department=far_department)
        far_kpi = make_active_kpi(other_company, name={"en": "Far KPI"})
    client.force_login(org.lead.user)
    for url in (
        f"/organization/metrics/teams/{org.beta.id}/",
        f"/organization/metrics/departments/{org.sales.id}/",
        f"/organization/metrics/teams/{far_team.id}/",
        f"/organization/metrics/teams/{org.beta.id}/add/",
    ):
        assert client.get(url).status_code == 404, url
    assert (
        client.post(f"/organization/metrics/teams/{org.beta.id}/kpis/{org.calls.id}/hide/").status_code == 404
    )
    client.force_login(org.admin.user)
    assert client.get(f"/organization/metrics/departments/{far_department.id}/").status_code == 404
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    assert client.post(f"{alpha}kpis/{far_kpi.id}/hide/").status_code == 404
    assert client.post(f"{alpha}kpis/987654321/hide/").status_code == 404
    assert client.get(f"{alpha}kpis/{org.calls.id}/hide/").status_code == 405


# --- Adding a KPI of the level (K6) -----------------------------------------------------------------------


def test_a_manager_adds_a_kpi_of_their_team_when_the_company_allows_it(client, org):
    client.force_login(org.manager.user)
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    assert client.get(f"{alpha}add/").status_code == 403
    company_update(company=org.company, units_define_kpis=True)
    assert f'href="{alpha}add/"' in client.get(alpha).content.decode()
    form = {
        "name_en": "Meetings",
        "name_ru": "Встречи",
        "description_en": "",
        "description_ru": "",
        "integration_name": "alpha_meetings",
        "kind": "secondary",
        "unit": "",
        "aggregation": "sum",
        "direction": "higher_is_better",
        "active": "on",
    }
    # a name missing in Russian keeps it from being Active, and says so
    response = client.post(f"{alpha}add/", {**form, "name_ru": ""})
    assert response.status_code == 200
    assert "Fill in the name in Russian." in response.content.decode()
    response = client.post(f"{alpha}add/", form, follow=True)
    assert response.redirect_chain == [(alpha, 302)]
    row = next(row for row in response.context["metrics"].secondary if row.name == "Meetings")
    assert (row.origin, row.kpi.level, row.kpi.team_id, row.kpi.status) == (
        "own",
        "team",
        org.alpha.id,
        "active",
    )
    assert row.kpi.id in _dashboard_kpis(client, org.alpha)


def test_a_company_admin_adds_kpis_in_the_admins_form_with_the_level_chosen(client, org):
    client.force_login(org.admin.user)
    html = client.get(f"/organization/metrics/teams/{org.alpha.id}/").content.decode()
    assert f'href="/admin/kpis/kpi/add/?level=team&amp;team={org.alpha.id}"' in html
    assert f'href="/admin/kpis/kpi/{org.calls.id}/access/"' in html  # K8: who it reaches
    form = client.get(f"/admin/kpis/kpi/add/?level=team&team={org.alpha.id}").context["adminform"].form
    assert (form.initial["level"], str(form.initial["team"])) == ("team", str(org.alpha.id))
    html = client.get("/organization/metrics/").content.decode()
    assert 'href="/admin/kpis/kpi/add/?level=company"' in html


def test_the_organization_page_links_key_metrics_for_everyone(client, org):
    for who in REACH:
        client.force_login(getattr(org, who).user)
        assert 'href="/organization/metrics/"' in client.get("/organization/").content.decode()


# --- No query per row ------------------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_reads_a_fixed_number_of_queries_at_1000_kpis_and_500_teams(client, org):
    client.force_login(org.admin.user)
    urls = [
        "/organization/metrics/",
        f"/organization/metrics/departments/{org.sales.id}/",
        f"/organization/metrics/teams/{org.alpha.id}/",
    ]
    company_update(company=org.company, units_define_kpis=True)
    with company_context(org.company.id):  # a target at each level: its parts are read too
        for holder in ({}, {"department": org.sales}, {"team": org.alpha}):
            scope = next(iter(holder), "company")
            services.target_create(
                kpi=org.calls,
                period="month",
                start=datetime.date(2026, 12, 1),
                value="9",
                scope=scope,
                **holder,
            )
    few = {url: _queries(client, url) for url in urls}
    # given 500 teams in 50 departments and 1,000 KPIs at every level, with hides, audiences and targets
    with company_context(org.company.id):
        departments = [org.sales] + [department_create(name=f"Department {n}") for n in range(49)]
        teams = [team_create(name=f"Team {n}", department=departments[n % 50]) for n in range(497)]
        for n in range(1000):
            level = ("company", "department", "team")[n % 3]
            unit = {"department": departments[n % 50]} if level == "department" else {}
            if level == "team":
                unit = {"team": org.alpha if n % 2 else teams[n % 497]}
            kpi = make_active_kpi(
                org.company,
                name={"en": f"Bulk {n}", "ru": f"Пачка {n}"},
                kind=("primary", "secondary")[n % 2],
                level=level,
                audience=services.Audience(teams=[org.alpha]) if n % 7 == 0 and level == "company" else None,
                **unit,
            )
            if level == "company" and n % 2:
                services.kpi_hide(kpi=kpi, team=org.alpha)
                services.kpi_hide(kpi=kpi, department=departments[n % 50])
            december = {"kpi": kpi, "period": "month", "start": datetime.date(2026, 12, 1)}
            services.target_create(**december, value="10", scope=level, **unit)
            if level == "company":
                services.target_create(**december, value="5", scope="team", team=org.alpha)
    # then each page reads as many queries as with a handful
    many = {url: _queries(client, url) for url in urls}
    assert many == few
    assert max(many.values()) <= 20
    client.force_login(org.manager.user)
    assert _queries(client, urls[2]) <= 20
    # the manager's tree: Sales and its teams, among them ten of the new ones
    tree = client.get("/organization/metrics/").context["tree"]
    assert len(tree.levels()) == 1 + 2 + len([team for team in teams if team.department_id == org.sales.id])


def test_the_page_speaks_russian(client, org):
    client.force_login(org.admin.user)
    client.post("/i18n/setlang/", {"language": "ru", "next": "/"})
    html = client.get(f"/organization/metrics/teams/{org.alpha.id}/").content.decode()
    assert "Ключевые метрики" in html
    assert "унаследован от компании" in html
    assert "скрыт отделом «Sales»" in html
    assert "Звонки" in html  # the KPI's Russian name (D6)


# --- Who a KPI of the level reaches (K8) ----------------------------------------------------------------


def _home_kpis(client, member) -> set[str]:
    client.force_login(member.user)
    response = client.get("/")
    return {figure.name for figure in response.context["primary"] + response.context["secondary"]}


def test_a_manager_gives_a_kpi_of_their_team_to_chosen_people(client, org, other_company, make_member):
    alpha = f"/organization/metrics/teams/{org.alpha.id}/"
    audience = f"{alpha}kpis/{org.demos.id}/audience/"
    client.force_login(org.manager.user)
    assert client.get(audience).status_code == 403  # the company does not let units define KPIs
    company_update(company=org.company, units_define_kpis=True)
    assert f'href="{audience}"' in client.get(alpha).content.decode()
    assert client.get(f"{alpha}kpis/{org.calls.id}/audience/").status_code == 403  # the company's KPI
    assert client.get(f"{alpha}kpis/{org.visits.id}/audience/").status_code == 404  # Beta's KPI
    assert {"Demos"} <= _home_kpis(client, org.bob)
    # another company's person is no choice
    stranger = make_member(other_company, email="stranger@globex.example")
    client.force_login(org.manager.user)
    response = client.post(audience, {"mode": "chosen", "members": [stranger.pk]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    # when the manager gives "Demos" to Ann only
    response = client.post(audience, {"mode": "chosen", "members": [org.ann.pk]}, follow=True)
    assert response.redirect_chain == [(alpha, 302)]
    row = next(row for row in response.context["metrics"].secondary if row.kpi.id == org.demos.id)
    assert row.chosen_audience
    # then Ann has it and Bob no longer
    assert "Demos" in _home_kpis(client, org.ann)
    assert "Demos" not in _home_kpis(client, org.bob)
    # and a lead of another team does not find it
    client.force_login(org.cid.user)
    assert client.get(audience).status_code == 404
