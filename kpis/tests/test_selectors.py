"""The effective KPIs of a unit or a person (K6 levels, inheritance and hides; K8 audience).

One small company is built through the services:

    company: C1, C2, P1 (audience: Bea), D1 (audience: Sales), H1 (Hidden), X1 (archived, of Sales)
    ├── Sales: S1, T1 (audience: Alpha)          Sales hides nothing
    │   ├── Alpha: A1                            (Ann)
    │   ├── Beta: hides S1                       (Bea)
    │   └── (no team)                            (Sam)
    └── Support: hides C2
        └── Gamma                                (Gil)
    (no unit)                                    (Una)
"""

from dataclasses import dataclass

import pytest

from kpis import selectors, services
from kpis.models import Kpi
from kpis.services import Audience
from kpis.tests.factories import make_active_kpi, make_kpi
from orgs.models import Department, Member, Team
from orgs.services import department_create, team_create
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory


@dataclass
class Org:
    sales: Department
    support: Department
    alpha: Team
    beta: Team
    gamma: Team
    people: dict[str, Member]
    kpis: dict[str, Kpi]


def build_org(company, *, prefix: str = "") -> Org:
    """The hierarchy of the module docstring, in ``company`` (call inside its context)."""
    sales, support = department_create(name="Sales"), department_create(name="Support")
    alpha, beta = team_create(name="Alpha", department=sales), team_create(name="Beta", department=sales)
    gamma = team_create(name="Gamma", department=support)
    people = {
        "ann": MemberFactory(email=f"{prefix}ann@acme.example", team=alpha),
        "bea": MemberFactory(email=f"{prefix}bea@acme.example", team=beta),
        "sam": MemberFactory(email=f"{prefix}sam@acme.example", department=sales),
        "gil": MemberFactory(email=f"{prefix}gil@acme.example", team=gamma),
        "una": MemberFactory(email=f"{prefix}una@acme.example"),
    }

    def kpi(key: str, **fields) -> Kpi:
        return make_active_kpi(
            company,
            name={language: f"{prefix}{key} {language}" for language in company.languages},
            integration_name=f"{prefix}{key}",
            **fields,
        )

    kpis = {
        "C1": kpi("C1"),
        "C2": kpi("C2"),
        "S1": kpi("S1", level="department", department=sales),
        "A1": kpi("A1", level="team", team=alpha),
        "P1": kpi("P1", audience=Audience(members=[people["bea"]])),
        "T1": kpi("T1", level="department", department=sales, audience=Audience(teams=[alpha])),
        "D1": kpi("D1", audience=Audience(departments=[sales])),
        "H1": make_kpi(name={"en": f"{prefix}H1"}, integration_name=f"{prefix}H1"),
        "X1": kpi("X1", level="department", department=sales),
    }
    services.kpi_hide(kpi=kpis["C2"], department=support)
    services.kpi_hide(kpi=kpis["S1"], team=beta)
    services.kpi_archive(kpi=kpis["X1"])
    return Org(sales, support, alpha, beta, gamma, people, kpis)


@pytest.fixture
def org(in_company) -> Org:
    return build_org(in_company)


def keys(org: Org, kpis) -> set[str]:
    by_id = {kpi.id: key for key, kpi in org.kpis.items()}
    return {by_id.get(kpi.id, f"foreign {kpi.id}") for kpi in kpis}


def fresh(member: Member) -> Member:
    """The person as a request reads them: nothing cached."""
    return Member.objects.get(user_id=member.user_id)


# --- Units (K6) --------------------------------------------------------------------------------------


def test_a_department_gets_the_company_kpis_it_has_not_hidden_and_its_own(org):
    assert keys(org, selectors.kpi_list_for_department(org.sales)) == {"C1", "C2", "P1", "D1", "S1", "T1"}
    assert keys(org, selectors.kpi_list_for_department(org.support)) == {"C1", "P1", "D1"}


def test_a_team_gets_what_its_department_gets_less_its_own_hides_plus_its_own(org):
    assert keys(org, selectors.kpi_list_for_team(org.alpha)) == {"C1", "C2", "P1", "D1", "S1", "T1", "A1"}
    assert keys(org, selectors.kpi_list_for_team(org.beta)) == {"C1", "C2", "P1", "D1", "T1"}
    assert keys(org, selectors.kpi_list_for_team(org.gamma)) == {"C1", "P1", "D1"}


def test_unit_lists_with_hidden_kpis_add_the_hidden_status_ones_but_never_archived(org):
    # given active_only=False (what an administrator sees while setting KPIs up)
    # then the Hidden-status H1 joins every unit, and the archived X1 joins none
    assert keys(org, selectors.kpi_list_for_department(org.sales, active_only=False)) == {
        "C1",
        "C2",
        "P1",
        "D1",
        "S1",
        "T1",
        "H1",
    }
    assert keys(org, selectors.kpi_list_for_team(org.gamma, active_only=False)) == {"C1", "P1", "D1", "H1"}


# --- People (K6 + K8) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("ann", {"C1", "C2", "D1", "S1", "T1", "A1"}),  # Alpha: P1 is Bea's only
        ("bea", {"C1", "C2", "P1", "D1"}),  # Beta hides S1; T1 is Alpha's only
        ("sam", {"C1", "C2", "D1", "S1"}),  # directly in Sales: no team KPI, not in T1's audience
        ("gil", {"C1"}),  # Support hides C2; D1 is for Sales
        ("una", {"C1", "C2"}),  # in no unit: company KPIs that reach everyone
    ],
)
def test_a_person_gets_the_kpis_of_their_unit_that_reach_them(org, person, expected):
    assert keys(org, selectors.kpi_list_for_member(fresh(org.people[person]))) == expected


def test_a_persons_list_with_hidden_kpis_adds_the_hidden_status_ones_but_never_archived(org):
    assert keys(org, selectors.kpi_list_for_member(fresh(org.people["gil"]), active_only=False)) == {
        "C1",
        "H1",
    }
    assert "X1" not in keys(org, selectors.kpi_list_for_member(fresh(org.people["sam"]), active_only=False))


AUDIENCES = {
    "C1": {"ann", "bea", "sam", "gil", "una"},
    "C2": {"ann", "bea", "sam", "una"},
    "S1": {"ann", "sam"},
    "A1": {"ann"},
    "P1": {"bea"},
    "T1": {"ann"},
    "D1": {"ann", "bea", "sam"},
    # Level, hides and audience only: the status is the caller's business (K5).
    "H1": {"ann", "bea", "sam", "gil", "una"},
    "X1": {"ann", "bea", "sam"},
}


@pytest.mark.parametrize(("kpi", "expected"), sorted(AUDIENCES.items()))
def test_kpi_audience_members_are_everyone_the_kpi_reaches(org, kpi, expected):
    by_id = {member.user_id: name for name, member in org.people.items()}
    members = selectors.kpi_audience_members(org.kpis[kpi])
    assert {by_id[member.user_id] for member in members} == expected


@pytest.mark.parametrize("kpi", sorted(AUDIENCES))
def test_kpi_reaches_member_agrees_with_the_audience(org, kpi):
    reached = {
        name for name, member in org.people.items() if selectors.kpi_reaches_member(org.kpis[kpi], member)
    }
    assert reached == AUDIENCES[kpi]


def test_every_list_agrees_with_the_audience(org):
    # A person's list (Hidden-status ones included) is exactly the live KPIs whose audience has them.
    for name, member in org.people.items():
        expected = {key for key, people in AUDIENCES.items() if name in people and key != "X1"}
        assert keys(org, selectors.kpi_list_for_member(fresh(member), active_only=False)) == expected, name


def test_unhiding_gives_the_kpi_back(org):
    # when Beta shows S1 again
    services.kpi_unhide(kpi=org.kpis["S1"], team=org.beta)
    # then Bea gets it, and so does Beta's list
    assert "S1" in keys(org, selectors.kpi_list_for_member(fresh(org.people["bea"])))
    assert "S1" in keys(org, selectors.kpi_list_for_team(org.beta))


def test_a_hide_for_a_department_covers_its_teams_and_people_in_it(org):
    # given C1 hidden for Sales
    services.kpi_hide(kpi=org.kpis["C1"], department=org.sales)
    # then no one in Sales, with or without a team, gets it; Support and the unassigned still do
    for team in (org.alpha, org.beta):
        assert "C1" not in keys(org, selectors.kpi_list_for_team(team))
    assert {
        name for name in org.people if selectors.kpi_reaches_member(org.kpis["C1"], org.people[name])
    } == {"gil", "una"}
    by_id = {member.user_id: name for name, member in org.people.items()}
    assert {by_id[m.user_id] for m in selectors.kpi_audience_members(org.kpis["C1"])} == {"gil", "una"}


# --- What the admin offers and warns about (K6, K7, K8) ---------------------------------------------


def test_kpi_search_finds_live_kpis_by_integration_name_or_id(org):
    assert keys(org, selectors.kpi_search(term="c1")) == {"C1"}
    assert keys(org, selectors.kpi_search(term=str(org.kpis["A1"].id))) == {"A1"}
    assert keys(org, selectors.kpi_search(term="x1")) == set()  # archived
    assert "C1" not in keys(org, selectors.kpi_search(term="", exclude=org.kpis["C1"].id))


def test_kpi_hide_choices_are_the_units_that_inherit_the_kpi_and_have_not_hidden_it(org):
    # C2 is hidden for Support; S1 (a Sales KPI) for Beta
    assert selectors.kpi_hide_choices(org.kpis["C2"]) == ([org.sales], [org.alpha, org.beta, org.gamma])
    assert selectors.kpi_hide_choices(org.kpis["S1"]) == ([], [org.alpha])
    assert selectors.kpi_hide_choices(org.kpis["A1"]) == ([], [])


def test_kpi_audience_choices_lie_within_the_kpis_level(org):
    departments, teams, people = selectors.kpi_audience_choices(org.kpis["S1"])
    assert (list(departments), list(teams)) == ([org.sales], [org.alpha, org.beta])
    assert {member.user_id for member in people} == {
        org.people[name].user_id for name in ("ann", "bea", "sam")
    }
    departments, teams, people = selectors.kpi_audience_choices(org.kpis["A1"])
    assert (list(departments), list(teams)) == ([], [org.alpha])
    assert [member.user_id for member in people] == [org.people["ann"].user_id]


# --- Query counts (STYLE 10) -----------------------------------------------------------------------


def test_kpi_list_for_member_takes_the_same_queries_for_1_and_20_kpis(in_company, django_assert_num_queries):
    # given a person in a team, and one company KPI
    team = team_create(name="Alpha", department=department_create(name="Sales"))
    person = MemberFactory(team=team)
    make_active_kpi(in_company)
    member = fresh(person)
    # then: the KPIs (with their unit, hides and audience checked in the query), then their audience
    with django_assert_num_queries(2):
        assert len(list(selectors.kpi_list_for_member(member))) == 1
    for _ in range(19):
        make_active_kpi(in_company, level="team", team=team)
    member = fresh(person)
    with django_assert_num_queries(2):
        assert len(list(selectors.kpi_list_for_member(member))) == 20


# --- Isolation (O2) ----------------------------------------------------------------------------------


def test_another_companys_kpis_hides_and_audience_never_appear(org, company, other_company):
    # given the same hierarchy in another company (English only), with its own hides and audience,
    # plus an audience entry there that names nobody here
    with company_context(other_company.id):
        other = build_org(other_company, prefix="g")
        other_ids = {kpi.id for kpi in other.kpis.values()}
        services.kpi_hide(kpi=other.kpis["C1"], department=other.sales)
    # then our lists, audiences and checks are exactly as before, with no foreign KPI
    with company_context(company.id):
        assert keys(org, selectors.kpi_list_for_team(org.alpha)) == {"C1", "C2", "P1", "D1", "S1", "T1", "A1"}
        assert keys(org, selectors.kpi_list_for_department(org.support, active_only=False)) == {
            "C1",
            "P1",
            "D1",
            "H1",
        }
        for name, member in org.people.items():
            listed = {kpi.id for kpi in selectors.kpi_list_for_member(fresh(member), active_only=False)}
            assert not listed & other_ids, name
            assert keys(org, selectors.kpi_list_for_member(fresh(member))) == {
                key for key, people in AUDIENCES.items() if name in people and key not in ("X1", "H1")
            }
        assert {m.user_id for m in selectors.kpi_audience_members(org.kpis["C1"])} == {
            m.user_id for m in org.people.values()
        }
        # and a foreign KPI reaches nobody here, even one whose audience is open to everyone
        assert not selectors.kpi_reaches_member(other.kpis["C2"], org.people["ann"])
        assert not selectors.kpi_audience_members(other.kpis["C2"]).exists()
