"""Internal links of a KPI's terms (PRODUCT K7): who may open each kind of target, the warning that
a target is narrower than the KPI, checked against a brute force over every person through the
pages' own access checks, and another company's ids refused on save."""

import pytest

from kpi_platform.errors import DomainError
from kpis import links, selectors, services
from kpis.tests.test_selectors import build_org
from orgs.models import Member, Role
from orgs.services import (
    company_update,
    department_create,
    department_set_managers,
    team_create,
    team_set_leads,
)
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory


@pytest.fixture
def org(in_company):
    """The org of ``test_selectors`` with an admin, Sales' manager and Alpha's lead."""
    org = build_org(in_company)
    org.people["ada"] = MemberFactory(email="ada@acme.example", role=Role.ADMIN)
    org.people["max"] = MemberFactory(email="max@acme.example", role=Role.MANAGER, department=org.sales)
    org.people["lea"] = MemberFactory(email="lea@acme.example", role=Role.LEAD, team=org.alpha)
    department_set_managers(department=org.sales, managers=[org.people["max"]])
    team_set_leads(team=org.alpha, leads=[org.people["lea"]])
    return org


def every_target(org) -> list[tuple[str, int]]:
    company_id = org.sales.company_id
    return [
        *(("kpis", kpi.id) for kpi in org.kpis.values()),
        ("dashboards/company", company_id),
        ("leaderboard/company", company_id),
        *(
            (section, department.id)
            for section in links._DEPARTMENT_SECTIONS
            for department in (org.sales, org.support)
        ),
        *(
            (section, team.id)
            for section in links._TEAM_SECTIONS
            for team in (org.alpha, org.beta, org.gamma)
        ),
        *(("people", member.user_id) for member in org.people.values()),
    ]


def brute_openers(target) -> set[int]:
    """Everyone for whom the pages' own checks open the target, asked person by person."""
    return {
        member.user_id
        for member in Member.objects.all()
        if target in links.openable_targets(Member.objects.get(user_id=member.user_id), [target])
    }


@pytest.mark.parametrize("units_define_kpis", [False, True])
def test_who_may_open_each_target_is_what_the_pages_let_each_person_open(org, in_company, units_define_kpis):
    # given the company's setting (heads see their units' KPIs that are not active when they define them)
    company_update(company=in_company, units_define_kpis=units_define_kpis)

    # then for every target of every section, the set turned around equals asking everyone
    for target in every_target(org):
        assert links.target_openers(target) == brute_openers(target), target


def test_the_sections_open_to_the_expected_people(org):
    names = {member.user_id: name for name, member in org.people.items()}

    def who(section, target_id) -> set[str]:
        return {names[user_id] for user_id in links.target_openers((section, target_id))}

    # the company's dashboard is the admins'; its leaderboard everyone's
    assert who("dashboards/company", org.sales.company_id) == {"ada"}
    assert who("leaderboard/company", org.sales.company_id) == set(names.values())
    # a team's dashboard: its people, its lead, its department's manager, the admins
    assert who("dashboards/teams", org.alpha.id) == {"ann", "lea", "max", "ada"}
    # a department's dashboard: its managers and the admins; its leaderboard also its people
    assert who("dashboards/departments", org.sales.id) == {"max", "ada"}
    assert who("leaderboard/departments", org.sales.id) == {"ann", "bea", "sam", "max", "lea", "ada"}
    # a profile: the person and those over them
    assert who("people", org.people["ann"].user_id) == {"ann", "lea", "max", "ada"}
    assert who("people", org.people["una"].user_id) == {"una", "ada"}


CASES = [
    ("C1", "dashboards/teams", "alpha"),  # the whole company → one team's dashboard
    ("C1", "people", "ann"),  # the whole company → a person's profile
    ("C1", "leaderboard/company", None),  # the whole company → its leaderboard: no warning
    ("C1", "dashboards/company", None),  # → the company's dashboard, the admins' only
    ("A1", "dashboards/teams", "alpha"),  # Alpha's KPI → Alpha's dashboard: no warning
    ("S1", "leaderboard/departments", "sales"),  # Sales less Beta → Sales' leaderboard: no warning
    ("S1", "dashboards/departments", "sales"),
    ("P1", "people", "bea"),  # Bea's KPI → Bea's profile: no warning
    ("C1", "kpis", "D1"),  # → a KPI for Sales only
    ("C1", "kpis", "S1"),  # → a KPI for Sales less Beta
    ("C1", "kpis", "H1"),  # → a KPI not active
]


def _target(org, section, key):
    if key is None:
        return (section, org.sales.company_id)
    if section == "kpis":
        return (section, org.kpis[key].id)
    if section == "people":
        return (section, org.people[key].user_id)
    return (section, getattr(org, key).id)


@pytest.mark.parametrize(("source", "section", "key"), CASES)
def test_the_warning_counts_the_receivers_who_cannot_open_the_target(org, source, section, key):
    # given
    kpi = org.kpis[source]
    target = _target(org, section, key)
    receivers = {member.user_id for member in selectors.kpi_audience_members(kpi)}

    # when
    narrower = links.narrower_targets(kpi, [target])

    # then it warns exactly when some who receive the KPI cannot open the target, and says how many
    shut_out = receivers - brute_openers(target)
    assert [(link.target, link.shut_out) for link in narrower] == (
        [(target, len(shut_out))] if shut_out else []
    )


def test_the_warning_is_given_where_the_brief_says(org):
    warned = {
        (source, section, key)
        for source, section, key in CASES
        if links.narrower_targets(org.kpis[source], [_target(org, section, key)])
    }
    assert warned == {
        ("C1", "dashboards/teams", "alpha"),
        ("C1", "people", "ann"),
        ("C1", "dashboards/company", None),
        ("S1", "dashboards/departments", "sales"),
        ("C1", "kpis", "D1"),
        ("C1", "kpis", "S1"),
        ("C1", "kpis", "H1"),
    }


def test_a_link_to_the_kpi_itself_is_never_narrower(org):
    # even a KPI not active, which only admins open, may point at itself
    h1 = org.kpis["H1"]
    assert links.narrower_targets(h1, [("kpis", h1.id)]) == []
    assert links.narrower_targets(org.kpis["C1"], [("kpis", h1.id)]) != []


def test_a_new_kpi_is_judged_by_the_level_the_form_shows(org):
    # given a team-level KPI of Alpha, not saved yet: it reaches Ann and Lea
    from kpis.models import Kpi

    kpi = Kpi(level="team", team_id=org.alpha.id, department_id=org.sales.id)

    # then Alpha's dashboard and Ann's profile are open to both, Bea's profile to neither
    assert links.narrower_targets(kpi, [("dashboards/teams", org.alpha.id)]) == []
    assert links.narrower_targets(kpi, [("people", org.people["ann"].user_id)]) == []
    (link,) = links.narrower_targets(kpi, [("people", org.people["bea"].user_id)])
    assert link.shut_out == 2


def test_links_to_another_companys_objects_are_refused_on_save(org, other_company):
    # given Globex's own department, team, person and company id
    with company_context(other_company.id):
        theirs_department = department_create(name="Their sales")
        theirs_team = team_create(name="Their team", department=theirs_department)
        theirs_person = MemberFactory(email="them@globex.example")
    c1 = org.kpis["C1"]
    for target in (
        f"dashboards/departments/{theirs_department.id}",
        f"leaderboard/teams/{theirs_team.id}",
        f"people/{theirs_person.user_id}",
        f"dashboards/company/{other_company.id}",
    ):
        # when the admin saves terms linking to it
        with pytest.raises(DomainError) as raised:
            services.kpi_update(kpi=c1, description={"en": f"[x](internal:{target})", "ru": "x"})

        # then it is refused with a clear error on the field, and nothing is saved
        (error,) = raised.value.errors
        assert (error.code, error.field) == ("link_invalid", "description.en")
        assert "points outside this company or at nothing" in error.message
    c1.refresh_from_db()
    assert "internal:" not in (c1.description_en or "")


def test_links_to_the_companys_own_pages_save(org):
    c1 = org.kpis["C1"]
    text = " ".join(
        f"[{section}](internal:{section}/{target_id})" for section, target_id in every_target(org)
    )
    services.kpi_update(kpi=c1, description={"en": text, "ru": text})
    c1.refresh_from_db()
    assert c1.description_en == text
