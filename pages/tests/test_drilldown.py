"""Issue 18, "at a glance": drill-down from dashboards (their units' rows, people and KPIs) with
a breadcrumb back, each link only where O4 lets the viewer open it; and "Needs attention", the
people furthest behind their pace on a team's or department's dashboard."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis.services import target_create
from orgs.models import Member
from orgs.tenancy import company_context
from pages import selectors
from pages.tests import test_ratings
from pages.tests.test_ratings import TENTH, get
from ratings import dashboards, windows
from ratings.models import KpiAction
from ratings.tests.pages_org import NOVEMBER, record

# The organization and "today" (10 November 2026) of the ratings pages' tests.
org = test_ratings.org
on_the_tenth = test_ratings.on_the_tenth


def links(html: str, pattern: str) -> set[str]:
    return set(re.findall(rf'href="({pattern})[?"]', html))


def crumbs(html: str) -> list[tuple[str, str]]:
    """The breadcrumb as (label, link or "")."""
    nav = html.split('id="breadcrumb"')[1].split("</nav>")[0]
    return [
        (re.sub(r"<[^>]+>", "", item).strip(), (re.findall(r'href="([^"?]+)', item) or [""])[0])
        for item in re.findall(r"<li>(.*?)</li>", nav, re.S)
    ]


UNITS = r"/dashboards/(?:departments|teams)/\d+/"
PEOPLE = r"/people/\d+/"


def test_unit_rows_link_to_the_dashboards_the_viewer_opens_and_every_link_opens(client, org, on_the_tenth):
    # given the admin on the company's breakdown by department and the manager on Sales' by team
    company = get(client, org.admin, "/dashboards/company/", by="units").content.decode()
    sales = f"/dashboards/departments/{org.sales.id}/"
    support = f"/dashboards/departments/{org.support.id}/"
    alpha, beta = f"/dashboards/teams/{org.alpha.id}/", f"/dashboards/teams/{org.beta.id}/"
    # then each department's row links to its dashboard
    assert links(company, UNITS) == {sales, support}
    for who in (org.admin, org.manager):
        html = get(client, who, sales, by="units").content.decode()
        assert links(html, UNITS) == {alpha, beta}, who
        for url in links(html, UNITS):
            assert get(client, who, url).status_code == 200


@pytest.mark.parametrize(
    ("who", "url", "expected", "people"),
    [
        ("admin", "alpha", [("Acme", "company"), ("Sales", "sales"), ("Alpha", "")], {"lead", "ann", "bob"}),
        ("manager", "alpha", [("Acme", ""), ("Sales", "sales"), ("Alpha", "")], {"lead", "ann", "bob"}),
        ("lead", "alpha", [("Acme", ""), ("Sales", ""), ("Alpha", "")], {"lead", "ann", "bob"}),
        ("ann", "alpha", [("Acme", ""), ("Sales", ""), ("Alpha", "")], {"ann"}),
        ("admin", "sales", [("Acme", "company"), ("Sales", "")], {"manager", "lead", "ann", "bob", "cid"}),
        ("manager", "sales", [("Acme", ""), ("Sales", "")], {"manager", "lead", "ann", "bob", "cid"}),
        (
            "admin",
            "bob",
            [("Acme", "company"), ("Sales", "sales"), ("Alpha", "alpha"), ("Bob Alpha", "")],
            set(),
        ),
        ("manager", "bob", [("Acme", ""), ("Sales", "sales"), ("Alpha", "alpha"), ("Bob Alpha", "")], set()),
        ("lead", "bob", [("Acme", ""), ("Sales", ""), ("Alpha", "alpha"), ("Bob Alpha", "")], set()),
        ("ann", "ann", [("Acme", ""), ("Sales", ""), ("Alpha", "alpha"), ("Ann Alpha", "")], set()),
    ],
)
def test_the_breadcrumb_and_the_people_link_exactly_what_each_role_may_open(
    client, org, on_the_tenth, who, url, expected, people
):
    """O4: the company dashboard is the admins'; a department's its managers' (and admins'); a
    team's its lead's, its people's and those above; a profile its person's and those over them.
    A level the viewer may not open is plain text, and a person they may not open too."""
    urls = {
        "company": "/dashboards/company/",
        "sales": f"/dashboards/departments/{org.sales.id}/",
        "alpha": f"/dashboards/teams/{org.alpha.id}/",
        "bob": f"/people/{org.bob.user_id}/",
        "ann": f"/people/{org.ann.user_id}/",
    }
    viewer = getattr(org, who)
    response = get(client, viewer, urls[url], by="members")
    assert response.status_code == 200
    html = response.content.decode()
    assert crumbs(html) == [(label, urls.get(link, "")) for label, link in expected]
    if url in ("alpha", "sales"):
        linked = links(html.split('id="breakdown"')[1], PEOPLE)
        assert linked == {f"/people/{getattr(org, name).user_id}/" for name in people}
    # and every link opens, every level above left as text does not
    levels = {"Acme": "company", "Sales": "sales", "Alpha": "alpha"}
    for index, (label, link) in enumerate(crumbs(html)):
        if link:
            assert get(client, viewer, link).status_code == 200, link
        elif index < len(expected) - 1:
            assert get(client, viewer, urls[levels[label]]).status_code in (403, 404), label
    # and so does nobody of the unit left unlinked
    unit = {"alpha": ["lead", "ann", "bob"], "sales": ["manager", "lead", "ann", "bob", "cid"]}
    for name in unit.get(url, []):
        status = get(client, viewer, f"/people/{getattr(org, name).user_id}/").status_code
        assert status == (200 if name in people else 404), (who, name)


def test_the_chosen_kpi_links_to_its_page(client, org, on_the_tenth):
    html = get(client, org.manager, f"/dashboards/departments/{org.sales.id}/").content.decode()
    kpi_links = links(html, r"/kpis/\d+/")
    assert kpi_links
    for url in kpi_links:
        assert get(client, org.manager, url).status_code == 200


# --- Needs attention ----------------------------------------------------------------------------


def november_targets(org) -> None:
    with company_context(org.company.id):
        month = {"kpi": org.deals, "period": "month", "start": NOVEMBER}
        target_create(**month, value="30", scope="user", member=org.ann)
        target_create(**month, value="60", scope="team", team=org.alpha)
        target_create(**month, value="150", scope="department", department=org.sales)
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="30", scope="team", team=org.beta)


def brute_force_behind(org, department) -> list[tuple[int, Decimal]]:
    """From the raw actions and the rule of ``selectors.needs_attention``: a person's target is
    their own, else their team's shared among its people, else the department's shared among its
    people; by the 10th a third of November's is expected; each person's worst pace, below 100 %,
    worst first."""
    with company_context(org.company.id):
        people = list(
            Member.objects.filter(department=department, user__is_active=True).select_related("user")
        )
        actions = list(KpiAction.objects.filter(voided_at__isnull=True, day__range=(NOVEMBER, TENTH)))
    own = {(org.ann.user_id, org.deals.id): Decimal(30)}
    team = {(org.alpha.id, org.deals.id): Decimal(60), (org.beta.id, org.calls.id): Decimal(30)}
    department_target = {(org.sales.id, org.deals.id): Decimal(150)}
    heads = {
        team_id: sum(1 for person in people if person.team_id == team_id)
        for team_id in (org.alpha.id, org.beta.id)
    }
    result = []
    for person in people:
        paces = []
        for kpi in (org.calls, org.deals):
            total = sum(
                (a.value for a in actions if a.member_id == person.user_id and a.kpi_id == kpi.id), Decimal(0)
            )
            if (person.user_id, kpi.id) in own:
                month = own[(person.user_id, kpi.id)]
            elif (person.team_id, kpi.id) in team:
                month = team[(person.team_id, kpi.id)] / heads[person.team_id]
            elif (department.id, kpi.id) in department_target:
                month = department_target[(department.id, kpi.id)] / len(people)
            else:
                continue
            paces.append(total * 100 / (month * 10 / 30))
        if paces and min(paces) < 100:
            result.append((person.user_id, min(paces)))
    return sorted(result, key=lambda item: item[1])


def test_needs_attention_lists_the_people_furthest_behind_their_pace_first(client, org, on_the_tenth):
    # given November's targets: Ann's own, Alpha's and Sales' deals, Beta's calls
    november_targets(org)
    record(
        org.company,
        (org.ann, org.deals, 4, "2026-11-02"),  # 4 of her own 10 expected: 40 %
        (org.bob, org.deals, 6, "2026-11-03"),  # 6 of Alpha's 20 / 3: 90 %
        (org.lead, org.deals, 1, "2026-11-04"),  # 1 of 6.67: 15 %
        (org.cid, org.deals, 12, "2026-11-05"),  # 12 of Sales' 50 / 5: ahead
        (org.cid, org.calls, 5, "2026-11-06"),  # 5 of Beta's 10: 50 %
        (org.ann, org.calls, 100, "2026-11-06"),  # no target of hers: not paced
        (org.eve, org.deals, 0, "2026-11-06"),  # not in Sales
    )
    # when the manager opens Sales' dashboard for November on the 10th
    response = get(
        client, org.manager, f"/dashboards/departments/{org.sales.id}/", period="month", date="2026-11-01"
    )
    behind = response.context["needs_attention"]
    # then the people come worst first, as the raw actions say
    expected = brute_force_behind(org, org.sales)
    assert [each.member.user_id for each in behind] == [member_id for member_id, _pace in expected]
    for each, (_member_id, pace) in zip(behind, expected, strict=True):
        assert abs(each.pace - pace) < Decimal("0.1")
    assert [each.member.user_id for each in behind] == [
        org.manager.user_id,  # nothing of Sales' 10
        org.lead.user_id,
        org.ann.user_id,
        org.cid.user_id,
        org.bob.user_id,
    ]
    # each a link to their profile, below the KPI table
    html = response.content.decode()
    block = html.split('id="needs-attention"')[1].split("</section>")[0]
    assert links(block, PEOPLE) == {f"/people/{each.member.user_id}/" for each in behind}
    assert html.index('id="primary-figures"') < html.index('id="needs-attention"')
    # and on Alpha's dashboard, its people only, the lead seeing them
    alpha = get(client, org.lead, f"/dashboards/teams/{org.alpha.id}/", period="month", date="2026-11-01")
    assert [each.member.user_id for each in alpha.context["needs_attention"]] == [
        org.lead.user_id,
        org.ann.user_id,
        org.bob.user_id,
    ]


def test_needs_attention_is_for_those_over_the_unit_only(client, org, on_the_tenth):
    november_targets(org)
    record(org.company, (org.bob, org.deals, 1, "2026-11-03"))
    alpha = f"/dashboards/teams/{org.alpha.id}/"
    assert get(client, org.lead, alpha).context["needs_attention"]
    member_view = get(client, org.ann, alpha)
    assert member_view.context["needs_attention"] is None
    assert 'id="needs-attention"' not in member_view.content.decode()
    assert get(client, org.admin, "/dashboards/company/").context["needs_attention"] is None


def test_needs_attention_takes_the_same_queries_for_few_and_many_people(org, company, make_member):
    november_targets(org)
    window = windows.window_of("month", NOVEMBER, TENTH)

    def count() -> int:
        with company_context(company.id):
            holder = dashboards.department_holder(org.sales)
            primary = dashboards.split_by_kind(
                dashboards.kpi_figures(holder, dashboards.holder_kpis(holder), window, ["en"])
            )[0]
            with CaptureQueriesContext(connection) as queries:
                selectors.needs_attention(holder, primary, window)
        return len(queries)

    before = count()
    for number in range(12):
        person = make_member(
            company, email=f"p{number}@acme.example", team=org.alpha if number % 2 else org.beta
        )
        record(company, (person, org.deals, number, "2026-11-02"), (person, org.calls, 1, "2026-11-03"))
    assert count() == before <= 6


def test_the_kpi_page_charts_the_history_of_the_unit_it_was_opened_from(client, org, on_the_tenth):
    """Drill-down: a dashboard's chosen KPI links to its page, which charts the KPI's history for
    that unit (the last periods' figures), as far as the viewer may open it (O4)."""
    record(
        org.company,
        (org.ann, org.deals, 2, "2026-11-02"),
        (org.cid, org.deals, 3, "2026-11-03"),
        (org.eve, org.deals, 5, "2026-11-04"),
        (org.ann, org.deals, 7, "2026-10-20"),
    )
    sales = get(client, org.manager, f"/dashboards/departments/{org.sales.id}/", kpi=str(org.deals.id))
    link = re.search(r'href="(/kpis/\d+/\?scope=department:\d+[^"]*)"', sales.content.decode()).group(1)
    response = client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200
    assert response.context["chosen"]["name"] == "Sales"
    # the trend's last two months: October's 7 and November's 2 + 3 (Eve is in Support)
    assert response.context["chart"]["trend"]["actual"][-2:] == [7.0, 5.0]
    assert 'id="chart-data"' in response.content.decode()
    # a unit out of reach is a 404, a bad scope a 400 page
    url = f"/kpis/{org.deals.id}/"
    assert get(client, org.manager, url, scope=f"department:{org.support.id}").status_code == 404
    assert get(client, org.ann, url, scope=f"user:{org.bob.user_id}").status_code == 404
    assert get(client, org.ann, url, scope="planet:1").status_code == 400
    # without a scope: the company for an admin, a member's own
    assert get(client, org.admin, url).context["chosen"]["name"] == "Acme"
    assert get(client, org.ann, url).context["chosen"]["name"] == "Ann Alpha"


def test_the_kpis_that_reach_each_person_are_those_their_own_list_gives(org):
    """``kpis_reaching`` (2 queries for everyone) agrees with ``kpi_list_for_member`` (one query
    a person): levels, a team's hide, a department KPI's team hide and access assignments (K6, K8)."""
    from kpis.selectors import kpi_list_for_member, kpis_reaching
    from kpis.services import Audience, kpi_hide, kpi_set_audience
    from kpis.tests.factories import make_active_kpi

    company = org.company
    with company_context(company.id):
        alpha_only = make_active_kpi(company, level="team", team=org.alpha)
        sales_only = make_active_kpi(company, level="department", department=org.sales)
        hidden = make_active_kpi(company)
        kpi_hide(kpi=hidden, team=org.beta)
        kpi_hide(kpi=sales_only, team=org.alpha)
        assigned = make_active_kpi(company)
        kpi_set_audience(kpi=assigned, audience=Audience(departments=[org.support], members=[org.ann]))
        kpis = [org.calls, org.deals, org.response_time, alpha_only, sales_only, hidden, assigned]
        people = list(Member.objects.all())
        reach = kpis_reaching(kpis, people)
        for person in people:
            expected = set(
                kpi_list_for_member(person)
                .filter(id__in=[kpi.id for kpi in kpis])
                .values_list("id", flat=True)
            )
            assert reach[person.user_id] == expected, person
        assert assigned.id in reach[org.ann.user_id]
        assert assigned.id not in reach[org.bob.user_id]
        assert hidden.id not in reach[org.cid.user_id]
        assert sales_only.id in reach[org.cid.user_id]
        assert sales_only.id not in reach[org.ann.user_id]


def test_needs_attention_paces_nobody_on_a_kpi_that_does_not_reach_them(client, org, on_the_tenth):
    """A company KPI that Beta hides, with a Sales target of 40: shared among the four Sales people
    it reaches (10 each, 3.33 by the 10th), Beta's Cid unpaced."""
    from kpis.services import kpi_hide
    from kpis.tests.factories import make_active_kpi

    with company_context(org.company.id):
        hidden = make_active_kpi(org.company, kind="primary")
        kpi_hide(kpi=hidden, team=org.beta)
        target_create(
            kpi=hidden, period="month", start=NOVEMBER, value="40", scope="department", department=org.sales
        )
    record(org.company, (org.ann, hidden, 1, "2026-11-02"))
    response = get(
        client, org.manager, f"/dashboards/departments/{org.sales.id}/", period="month", date="2026-11-01"
    )
    behind = {each.member.user_id: each for each in response.context["needs_attention"]}
    assert set(behind) == {org.manager.user_id, org.lead.user_id, org.ann.user_id, org.bob.user_id}
    assert behind[org.ann.user_id].expected == Decimal("3.33")
    assert behind[org.ann.user_id].figure.kpi == hidden
