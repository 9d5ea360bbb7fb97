"""The organization API (API.md "Basics" and "Organization"; PRODUCT O2–O6, I2)."""

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from kpi_platform.tests.api import MISSING, fill, ids, refs_of, send
from orgs.api.permissions import CompanyApi
from orgs.models import Department, Member, Role, Team, User
from orgs.services import (
    api_token_create,
    api_token_revoke,
    department_create,
    department_update,
    team_create,
    team_update,
)
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory

# --- fixtures and helpers -------------------------------------------------------------------------------
# `org` (Acme: Sales with North and South, Support with Care, and their people) is the root conftest's.


@pytest.fixture
def other_org(other_company, other_admin_member, make_member):
    """Globex: one department with one team, whose one person manages and leads them."""
    with company_context(other_company.id):
        department = department_create(name="Globex Sales")
        team = team_create(name="Globex North", department=department)
    person = make_member(other_company, team=team)
    with company_context(other_company.id):
        department_update(department=department, managers=[person])
        team_update(team=team, leads=[person])
    return SimpleNamespace(
        company=other_company, department=department, team=team, person=person, admin=other_admin_member
    )


@pytest.fixture(params=["session", "token"])
def caller(request, org, client_for, token_client):
    """Acme's company admin in a browser, or an Acme token with the read and org scopes."""
    if request.param == "session":
        return client_for(org.admin)
    return token_client(org.company, scopes=["read", "org"])


def snapshot(company) -> dict:
    """Everything of a company the organization API could change."""
    with company_context(company.id):
        return {
            "departments": sorted(
                (d.id, d.name, tuple(m.pk for m in d.managers.all()))
                for d in Department.objects.prefetch_related("managers")
            ),
            "teams": sorted(
                (t.id, t.name, t.department_id, tuple(m.pk for m in t.leads.all()))
                for t in Team.objects.prefetch_related("leads")
            ),
            "members": sorted(
                Member.objects.values_list(
                    "user_id",
                    "role",
                    "department_id",
                    "team_id",
                    "external_id",
                    "user__email",
                    "user__first_name",
                    "user__last_name",
                    "user__language",
                    "user__is_active",
                )
            ),
        }


def errors(response) -> list[tuple]:
    """(code, field) of each error, after checking the body has API.md's error shape."""
    body = response.json()
    assert set(body) == {"errors"}, body
    for error in body["errors"]:
        assert set(error) == {"code", "field", "message", "index"}, error
        assert error["message"]
    return [(error["code"], error["field"]) for error in body["errors"]]


def member_row(member_id: int, company) -> tuple:
    with company_context(company.id):
        member = Member.objects.get(user_id=member_id)
        return member.role, member.department_id, member.team_id


# --- reading ----------------------------------------------------------------------------------------------


def test_an_admin_reads_the_organization_in_the_documented_shapes(org, client_for):
    # given Acme's admin
    client = client_for(org.admin)
    # when they read one department, team and person
    department = client.get(f"/api/v1/departments/{org.sales.id}/")
    team = client.get(f"/api/v1/teams/{org.north.id}/")
    member = client.get(f"/api/v1/members/{org.member.id}/")
    # then the shapes are API.md's, and a member's id is their user id
    assert department.json() == {"id": org.sales.id, "name": "Sales", "managers": [org.manager.id]}
    assert team.json() == {
        "id": org.north.id,
        "name": "North",
        "department": org.sales.id,
        "leads": [org.lead.id],
    }
    assert member.json() == {
        "id": org.member.user_id,
        "email": org.member.user.email,
        "first_name": org.member.user.first_name,
        "last_name": org.member.user.last_name,
        "external_id": "",
        "language": "",
        "role": "member",
        "department": org.sales.id,
        "team": org.north.id,
        "is_active": True,
    }


def test_lists_are_paginated_with_limit_and_offset(org, client_for):
    # given three departments (Sales, Support and one more)
    client = client_for(org.admin)
    with company_context(org.company.id):
        department_create(name="Training")
    # when the second page of one is asked for
    response = client.get("/api/v1/departments/?limit=1&offset=1")
    # then it carries the count and links to both neighbours
    body = response.json()
    assert (body["count"], [row["name"] for row in body["results"]]) == (3, ["Support"])
    assert "offset=2" in body["next"]
    assert "limit=1" in body["previous"]


@pytest.mark.parametrize("query", ["limit=abc", "offset=-5", "limit=0", "limit=99999999999999999999999"])
def test_nonsense_pagination_falls_back_to_the_defaults(org, client_for, query):
    response = client_for(org.admin).get(f"/api/v1/members/?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == 7


@pytest.mark.parametrize("path", ["members", "departments", "teams", "kpis", "targets", "units"])
def test_an_offset_beyond_any_list_is_refused_naming_it(org, client_for, path):
    """issue 17: ``?offset=99999999999999999999999`` reached the database as an offset past bigint.
    Every list's offset is at most 1,000,000,000 (``kpi_platform.ids.MAX_OFFSET``)."""
    client = client_for(org.admin)
    response = client.get(f"/api/v1/{path}/?offset=99999999999999999999999")
    assert response.status_code == 400, response.content
    [refusal] = response.json()["errors"]
    assert (refusal["code"], refusal["field"]) == ("max_value", "offset")
    assert client.get(f"/api/v1/{path}/?offset=1000000000").status_code == 200


def test_teams_can_be_narrowed_to_a_department(org, caller):
    assert ids(caller.get(f"/api/v1/teams/?department={org.sales.id}")) == {org.north.id, org.south.id}
    assert ids(caller.get(f"/api/v1/teams/?department={org.support.id}")) == {org.care.id}


# --- O2: another company's rows, by session and by token ---------------------------------------------------


def test_lists_show_only_the_callers_company(org, other_org, caller):
    # given rows in both companies
    with company_context(org.company.id):
        acme = {
            "departments": set(Department.objects.values_list("id", flat=True)),
            "teams": set(Team.objects.values_list("id", flat=True)),
            "members": set(Member.objects.values_list("user_id", flat=True)),
        }
    # when Acme lists each kind, then it gets exactly its own
    for kind, expected in acme.items():
        assert ids(caller.get(f"/api/v1/{kind}/")) == expected
    assert ids(caller.get(f"/api/v1/teams/?department={other_org.department.id}")) == set()


@pytest.mark.parametrize(
    ("kind", "attribute", "change"),
    [
        ("departments", "department", {"name": "Taken over"}),
        ("teams", "team", {"name": "Taken over"}),
        ("members", "person", {"first_name": "Taken", "role": "admin"}),
    ],
)
def test_another_companys_unit_or_person_answers_like_a_missing_one(
    org, other_org, caller, assert_isolated, kind, attribute, change
):
    # given a row of Globex and what Globex looks like
    theirs = getattr(other_org, attribute).pk
    before = snapshot(other_org.company)
    # when Acme reads, changes and deletes it
    answers = {
        "get": caller.get(f"/api/v1/{kind}/{theirs}/"),
        "patch": caller.patch(f"/api/v1/{kind}/{theirs}/", change, format="json"),
    }
    if kind != "members":
        answers["delete"] = caller.delete(f"/api/v1/{kind}/{theirs}/")
    # then each answer is a 404 identical to the one for an id that exists nowhere
    for method, response in answers.items():
        assert_isolated(response)
        missing = send(caller, method, f"/api/v1/{kind}/{MISSING}/", change if method == "patch" else None)
        assert response.json() == missing.json()
    # and Globex is untouched
    assert snapshot(other_org.company) == before


# Requests naming a Globex row in the body or the query: method, path, body, the field at fault,
# and which of Globex's rows `{theirs}` is.
BODY_ID_CASES = [
    ("post", "/api/v1/departments/", {"name": "New", "managers": ["{theirs}"]}, "managers.0", "person"),
    (
        "patch",
        "/api/v1/departments/{sales}/",
        {"managers": ["{manager}", "{theirs}"]},
        "managers.1",
        "person",
    ),
    ("post", "/api/v1/teams/", {"name": "New", "department": "{theirs}"}, "department", "department"),
    ("patch", "/api/v1/teams/{north}/", {"department": "{theirs}"}, "department", "department"),
    ("patch", "/api/v1/teams/{north}/", {"leads": ["{theirs}"]}, "leads.0", "person"),
    ("post", "/api/v1/members/", {"email": "new@acme.example", "team": "{theirs}"}, "team", "team"),
    (
        "post",
        "/api/v1/members/",
        {"email": "new@acme.example", "department": "{theirs}"},
        "department",
        "department",
    ),
    ("patch", "/api/v1/members/{member}/", {"team": "{theirs}"}, "team", "team"),
    ("patch", "/api/v1/members/{member}/", {"department": "{theirs}"}, "department", "department"),
    (
        "post",
        "/api/v1/members/move/",
        {"members": ["{member}", "{theirs}"], "team": "{south}"},
        "members.1",
        "person",
    ),
    ("post", "/api/v1/members/move/", {"members": ["{member}"], "team": "{theirs}"}, "team", "team"),
    ("delete", "/api/v1/departments/{support}/?move_to={theirs}", None, "move_to", "department"),
    ("delete", "/api/v1/teams/{south}/?move_to={theirs}", None, "move_to", "team"),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "row"), BODY_ID_CASES)
def test_another_companys_id_in_a_request_is_not_found(
    org, other_org, caller, method, path, body, field, row
):
    # given the id of one of Globex's rows, and what both companies look like
    theirs, missing = refs_of(org, theirs=getattr(other_org, row).pk), refs_of(org, theirs=MISSING)
    before = snapshot(org.company), snapshot(other_org.company)
    # when Acme sends it
    response = send(caller, method, fill(path, theirs), fill(body, theirs))
    # then it is refused as not found, exactly like an id that exists nowhere, and nothing changed
    assert response.status_code == 400, response.content
    assert errors(response) == [("not_found", field)]
    unknown = send(caller, method, fill(path, missing), fill(body, missing))
    assert (unknown.status_code, errors(unknown)) == (400, [("not_found", field)])
    assert (snapshot(org.company), snapshot(other_org.company)) == before


# --- O4: roles (browser sessions) --------------------------------------------------------------------------


def test_each_role_lists_only_what_it_may_see(org, client_for):
    manager, lead, member = (client_for(getattr(org, who)) for who in ("manager", "lead", "member"))
    assert ids(manager.get("/api/v1/departments/")) == {org.sales.id}
    assert ids(manager.get("/api/v1/teams/")) == {org.north.id, org.south.id}
    assert ids(manager.get("/api/v1/members/")) == {
        org.manager.id,
        org.lead.id,
        org.member.id,
        org.seller.id,
        org.direct.id,
    }
    assert ids(lead.get("/api/v1/teams/")) == {org.north.id}
    assert ids(lead.get("/api/v1/members/")) == {org.lead.id, org.member.id}
    assert ids(member.get("/api/v1/departments/")) == {org.sales.id}
    assert ids(member.get("/api/v1/teams/")) == {org.north.id}
    assert ids(member.get("/api/v1/members/")) == {org.member.id}


NEW = "new@acme.example"

# Who tries what, and the answer O4 gives them (a 404: they may not even see it).
ROLE_CASES = [
    # a department manager: their department and everything below it, not the company
    ("manager", "post", "/api/v1/departments/", {"name": "New"}, 403),
    ("manager", "patch", "/api/v1/departments/{sales}/", {"name": "Sales EU"}, 200),
    ("manager", "patch", "/api/v1/departments/{sales}/", {"managers": ["{direct}"]}, 403),
    ("manager", "delete", "/api/v1/departments/{sales}/", None, 403),
    ("manager", "patch", "/api/v1/departments/{support}/", {"name": "X"}, 404),
    ("manager", "post", "/api/v1/teams/", {"name": "West", "department": "{sales}"}, 201),
    (
        "manager",
        "post",
        "/api/v1/teams/",
        {"name": "West", "department": "{sales}", "leads": ["{direct}"]},
        403,
    ),
    ("manager", "patch", "/api/v1/teams/{north}/", {"name": "North-East"}, 200),
    ("manager", "patch", "/api/v1/teams/{north}/", {"leads": ["{member}"]}, 403),
    ("manager", "delete", "/api/v1/teams/{south}/", None, 204),
    ("manager", "delete", "/api/v1/teams/{care}/", None, 404),
    ("manager", "post", "/api/v1/members/", {"email": NEW, "team": "{south}"}, 201),
    ("manager", "post", "/api/v1/members/", {"email": NEW, "team": "{south}", "role": "admin"}, 403),
    ("manager", "post", "/api/v1/members/", {"email": NEW}, 403),  # in no unit: only an admin
    ("manager", "patch", "/api/v1/members/{member}/", {"team": "{south}"}, 200),
    ("manager", "patch", "/api/v1/members/{member}/", {"role": "lead"}, 403),
    ("manager", "patch", "/api/v1/members/{member}/", {"role": "member"}, 200),  # no change
    ("manager", "patch", "/api/v1/members/{member}/", {"department": None}, 403),
    ("manager", "patch", "/api/v1/members/{carer}/", {"first_name": "X"}, 404),
    (
        "manager",
        "post",
        "/api/v1/members/move/",
        {"members": ["{member}", "{direct}"], "team": "{south}"},
        200,
    ),
    # a team lead: sees their team and its department, changes nothing
    ("lead", "post", "/api/v1/departments/", {"name": "New"}, 403),
    ("lead", "patch", "/api/v1/departments/{sales}/", {"name": "X"}, 403),
    ("lead", "delete", "/api/v1/departments/{sales}/", None, 403),
    ("lead", "post", "/api/v1/teams/", {"name": "West", "department": "{sales}"}, 403),
    ("lead", "patch", "/api/v1/teams/{north}/", {"name": "X"}, 403),
    ("lead", "delete", "/api/v1/teams/{north}/", None, 403),
    ("lead", "get", "/api/v1/teams/{south}/", None, 404),
    ("lead", "post", "/api/v1/members/", {"email": NEW, "team": "{north}"}, 403),
    ("lead", "patch", "/api/v1/members/{member}/", {"first_name": "X"}, 403),
    ("lead", "post", "/api/v1/members/move/", {"members": ["{member}"], "team": "{north}"}, 403),
    # a member: sees themselves, their team and department, changes nothing
    ("member", "get", "/api/v1/members/{lead}/", None, 404),
    ("member", "get", "/api/v1/members/{member}/", None, 200),
    ("member", "patch", "/api/v1/members/{member}/", {"first_name": "Me"}, 403),
    ("member", "patch", "/api/v1/members/{member}/", {"role": "admin"}, 403),
    ("member", "get", "/api/v1/teams/{north}/", None, 200),
    ("member", "patch", "/api/v1/teams/{north}/", {"name": "X"}, 403),
    ("member", "delete", "/api/v1/departments/{sales}/", None, 403),
    ("member", "get", "/api/v1/departments/{support}/", None, 404),
]


@pytest.mark.parametrize(("who", "method", "path", "body", "expected"), ROLE_CASES)
def test_roles_may_do_what_O4_gives_them_and_nothing_more(org, client_for, who, method, path, body, expected):
    # given a person of a role, and the company as it is
    client = client_for(getattr(org, who))
    before = snapshot(org.company)
    # when they try it
    response = send(client, method, fill(path, refs_of(org)), fill(body, refs_of(org)))
    # then the answer is the role's; a refusal changes nothing
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert errors(response) == [("not_found" if expected == 404 else "permission_denied", None)]
        assert snapshot(org.company) == before


def test_a_manager_cannot_place_people_in_units_they_cannot_see(org, client_for):
    client = client_for(org.manager)
    create = client.post("/api/v1/teams/", {"name": "West", "department": org.support.id}, format="json")
    move = client.post(
        "/api/v1/members/move/", {"members": [org.carer.id], "team": org.south.id}, format="json"
    )
    into = client.post(
        "/api/v1/members/move/", {"members": [org.member.id], "team": org.care.id}, format="json"
    )
    assert errors(create) == [("not_found", "department")]
    assert errors(move) == [("not_found", "members.0")]
    assert errors(into) == [("not_found", "team")]


def test_a_manager_cannot_move_a_team_into_a_department_they_only_see(org, client_for):
    # given a manager of Sales who is themselves placed in Support (so they see it)
    with company_context(org.company.id):
        Member.objects.filter(user_id=org.manager.id).update(department=org.support, team=None)
    client = client_for(org.manager)
    assert client.get(f"/api/v1/departments/{org.support.id}/").status_code == 200
    # when they move a team of Sales into Support
    response = client.patch(f"/api/v1/teams/{org.north.id}/", {"department": org.support.id}, format="json")
    # then it is refused: they may see Support, not manage it
    assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])


def test_a_manager_cannot_change_or_move_a_company_admin_placed_in_their_department(org, client_for):
    # given a company admin who sits in Sales, which `manager` manages
    with company_context(org.company.id):
        Member.objects.filter(user_id=org.admin.id).update(department=org.sales, team=None)
    client = client_for(org.manager)
    before = snapshot(org.company)
    # when the manager changes the admin's sign-in address or moves them
    change = client.patch(f"/api/v1/members/{org.admin.id}/", {"email": "mine@acme.example"}, format="json")
    move = client.post(
        "/api/v1/members/move/", {"members": [org.admin.id], "team": org.south.id}, format="json"
    )
    # then both are refused: they see the admin, but only an admin changes one
    assert client.get(f"/api/v1/members/{org.admin.id}/").status_code == 200
    for response in (change, move):
        assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])
    assert snapshot(org.company) == before


def test_an_admin_appoints_managers_and_leads_and_changes_roles(org, client_for):
    # given Acme's admin
    client = client_for(org.admin)
    # when they create a department with a manager, a team with a lead, and promote someone
    department = client.post(
        "/api/v1/departments/", {"name": "Training", "managers": [org.direct.id]}, format="json"
    )
    team = client.post(
        "/api/v1/teams/",
        {"name": "Coaches", "department": department.json()["id"], "leads": [org.seller.id, org.seller.id]},
        format="json",
    )
    promoted = client.patch(f"/api/v1/members/{org.carer.id}/", {"role": "admin"}, format="json")
    # then the people have the roles O4 gives them
    assert (department.status_code, department.json()["managers"]) == (201, [org.direct.id])
    assert (team.status_code, team.json()["leads"]) == (201, [org.seller.id])
    assert (promoted.status_code, promoted.json()["role"]) == (200, "admin")
    assert member_row(org.direct.id, org.company)[0] == Role.MANAGER
    assert member_row(org.seller.id, org.company)[0] == Role.LEAD
    with company_context(org.company.id):
        assert User.objects.get(id=org.carer.id).is_staff


def test_an_admin_creates_and_changes_a_person(org, client_for):
    client = client_for(org.admin)
    # when a person is created in a team and then moved to another department
    created = client.post(
        "/api/v1/members/",
        {
            "email": "Ann@Acme.example",
            "first_name": "Ann",
            "last_name": "Lee",
            "external_id": "crm-7",
            "language": "ru",
            "team": org.north.id,
        },
        format="json",
    )
    person = created.json()["id"]
    changed = client.patch(
        f"/api/v1/members/{person}/", {"department": org.support.id, "is_active": False}, format="json"
    )
    # then both answers show the person as stored
    assert created.status_code == 201
    assert created.json() == {
        "id": person,
        "email": "ann@acme.example",
        "first_name": "Ann",
        "last_name": "Lee",
        "external_id": "crm-7",
        "language": "ru",
        "role": "member",
        "department": org.sales.id,
        "team": org.north.id,
        "is_active": True,
    }
    assert changed.status_code == 200
    assert (changed.json()["department"], changed.json()["team"], changed.json()["is_active"]) == (
        org.support.id,
        None,
        False,
    )
    assert member_row(person, org.company) == (Role.MEMBER, org.support.id, None)


def test_another_companys_address_is_no_oracle_and_blocks_nothing(org, other_org, caller):
    """O3, issue 17: creating a person with an address Globex uses answers exactly as for an
    address nobody uses (no ``email_taken``), makes a separate account of Acme's, and leaves
    Globex's person as they were; Acme's list then shows Acme's account only."""
    globex_before = snapshot(other_org.company)
    theirs = other_org.person.user.email
    # when Acme creates a person with Globex's address, and one with an address nobody uses
    taken = caller.post("/api/v1/members/", {"email": theirs.upper(), "first_name": "Twin"}, format="json")
    fresh = caller.post("/api/v1/members/", {"email": "nobody-yet@example.com"}, format="json")
    # then both answers are the same: a new person of Acme's
    assert (taken.status_code, fresh.status_code) == (201, 201), taken.content
    assert set(taken.json()) == set(fresh.json())
    assert taken.json()["email"] == theirs
    assert taken.json()["id"] != other_org.person.pk
    with company_context(org.company.id):
        assert Member.objects.get(pk=taken.json()["id"]).user.company_id == org.company.id
    # and Globex's rows are unchanged, its person not among Acme's
    assert snapshot(other_org.company) == globex_before
    listed = caller.get("/api/v1/members/?limit=100").json()["results"]
    assert [row["id"] for row in listed if row["email"] == theirs] == [taken.json()["id"]]
    assert other_org.person.pk not in {row["id"] for row in listed}
    # and the same address twice in Acme is still taken
    again = caller.post("/api/v1/members/", {"email": theirs}, format="json")
    assert (again.status_code, errors(again)) == (400, [("email_taken", "email")])


def test_moving_people_answers_how_many_moved(org, caller):
    # when two people (one named twice) move to South
    response = caller.post(
        "/api/v1/members/move/",
        {"members": [org.member.id, org.carer.id, org.member.id], "team": org.south.id},
        format="json",
    )
    # then both are in South and its department
    assert (response.status_code, response.json()) == (200, {"moved": 2})
    for person in (org.member, org.carer):
        assert member_row(person.id, org.company)[1:] == (org.sales.id, org.south.id)


# --- I2: tokens, and who may call at all -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/departments/", {"name": "New"}),
        ("patch", "/api/v1/departments/{sales}/", {"name": "X"}),
        ("delete", "/api/v1/departments/{support}/", None),
        ("post", "/api/v1/teams/", {"name": "New", "department": "{sales}"}),
        ("patch", "/api/v1/teams/{north}/", {"name": "X"}),
        ("delete", "/api/v1/teams/{north}/", None),
        ("post", "/api/v1/members/", {"email": NEW}),
        ("patch", "/api/v1/members/{member}/", {"first_name": "X"}),
        ("post", "/api/v1/members/move/", {"members": ["{member}"], "team": "{south}"}),
    ],
)
@pytest.mark.parametrize("scopes", [["read"], ["read", "actions", "definitions"]])
def test_a_token_without_the_org_scope_reads_but_cannot_write(org, token_client, method, path, body, scopes):
    # given a token without "org"
    client = token_client(org.company, scopes=scopes)
    before = snapshot(org.company)
    # when it writes, then it is refused and nothing changes; reading works
    response = send(client, method, fill(path, refs_of(org)), fill(body, refs_of(org)))
    assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])
    assert snapshot(org.company) == before
    for kind in ("departments", "teams", "members"):
        assert client.get(f"/api/v1/{kind}/").status_code == 200


def test_a_token_without_the_read_scope_cannot_read(org, token_client):
    client = token_client(org.company, scopes=["org"])
    for path in ("/api/v1/departments/", f"/api/v1/teams/{org.north.id}/", "/api/v1/members/"):
        response = client.get(path)
        assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])
    assert client.post("/api/v1/departments/", {"name": "New"}, format="json").status_code == 201


def _bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize(
    "path", ["/api/v1/departments/", "/api/v1/teams/", "/api/v1/members/", "/api/v1/members/1/"]
)
def test_no_invalid_or_revoked_token_is_unauthenticated(org, path):
    # given a revoked token and no credentials at all
    with company_context(org.company.id):
        revoked = api_token_create(name="old", scopes=["read", "org"])
        api_token_revoke(token=revoked.token)
    clients = {
        "none": APIClient(),
        "malformed": _bearer("not-a-token"),
        "unknown": _bearer(f"kpi_{org.company.id}_{'x' * 43}"),
        "revoked": _bearer(revoked.secret),
    }
    # then every one answers 401 with the Bearer challenge
    for name, client in clients.items():
        response = client.get(path)
        assert response.status_code == 401, name
        assert response["WWW-Authenticate"] == "Bearer"
        assert errors(response) == [("not_authenticated", None)]
    assert clients["none"].post("/api/v1/departments/", {"name": "X"}, format="json").status_code == 401


def test_a_platform_superuser_without_a_company_is_refused(other_org):
    # given a platform operator (no company) signed in
    root = User.objects.create_superuser("root@platform.example", "pass-2026-word")
    client = APIClient()
    client.force_login(root)
    # then the company API refuses them, whatever the id
    for path in ("/api/v1/departments/", f"/api/v1/teams/{other_org.team.id}/", "/api/v1/members/"):
        response = client.get(path)
        assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])


def test_a_user_of_a_company_without_a_member_row_is_refused(org):
    # given an account of Acme that is nobody in it (never company-wide, as a token would be)
    stray = User.objects.create_user("stray@acme.example", "pass-2026-word", company=org.company)
    client = APIClient()
    client.force_login(stray)
    response = client.get("/api/v1/members/")
    assert (response.status_code, errors(response)) == (403, [("permission_denied", None)])


def test_every_company_api_must_keep_the_company_permission():
    with pytest.raises(TypeError, match="CompanyPermission"):

        class LeakyApi(CompanyApi):
            permission_classes = []


def test_the_organization_endpoints_are_in_the_openapi_schema(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/departments/{department_id}/", "/api/v1/teams/", "/api/v1/members/move/"):
        assert f"{path}:" in schema
    assert "companyToken" in schema


# --- O6: deleting units loses nobody -----------------------------------------------------------------------


def _placements(org) -> dict[int, tuple]:
    with company_context(org.company.id):
        return {m.user_id: (m.department_id, m.team_id) for m in Member.objects.all()}


def test_deleting_a_department_unassigns_its_people(org, caller):
    # given Sales with five people in it
    before = _placements(org)
    in_sales = {pk for pk, (department, _team) in before.items() if department == org.sales.id}
    assert len(in_sales) == 5
    # when it is deleted
    response = caller.delete(f"/api/v1/departments/{org.sales.id}/")
    # then its teams are gone and its people are all still here, unassigned; nobody else moved
    assert response.status_code == 204
    after = _placements(org)
    assert set(after) == set(before)
    assert {after[pk] for pk in in_sales} == {(None, None)}
    assert {pk: after[pk] for pk in set(after) - in_sales} == {
        pk: before[pk] for pk in set(before) - in_sales
    }
    with company_context(org.company.id):
        assert set(Team.objects.values_list("name", flat=True)) == {"Care"}


def test_deleting_a_department_can_move_its_people_to_another(org, caller):
    response = caller.delete(f"/api/v1/departments/{org.sales.id}/?move_to={org.support.id}")
    assert response.status_code == 204
    after = _placements(org)
    assert len(after) == 7
    assert [after[p.id] for p in (org.manager, org.lead, org.member, org.seller, org.direct)] == [
        (org.support.id, None)
    ] * 5
    assert after[org.carer.id] == (org.support.id, org.care.id)


def test_deleting_a_team_keeps_its_people_in_the_department(org, caller):
    response = caller.delete(f"/api/v1/teams/{org.north.id}/")
    assert response.status_code == 204
    after = _placements(org)
    assert len(after) == 7
    assert after[org.lead.id] == after[org.member.id] == (org.sales.id, None)


def test_deleting_a_team_can_move_its_people_to_another_team(org, caller):
    response = caller.delete(f"/api/v1/teams/{org.north.id}/?move_to={org.care.id}")
    assert response.status_code == 204
    after = _placements(org)
    assert len(after) == 7
    assert after[org.lead.id] == after[org.member.id] == (org.support.id, org.care.id)


def test_a_unit_cannot_be_deleted_into_itself(org, caller):
    for path in (
        f"/api/v1/departments/{org.sales.id}/?move_to={org.sales.id}",
        f"/api/v1/teams/{org.north.id}/?move_to={org.north.id}",
    ):
        response = caller.delete(path)
        assert response.status_code == 400
        assert errors(response)[0][1] == "move_to"
    with company_context(org.company.id):
        assert Team.objects.filter(id=org.north.id).exists()


# --- bad input ------------------------------------------------------------------------------------------


LONG = "x" * 151

# Input that must be refused with the error format (never a 500): method, path, body, status, errors.
BAD_INPUT_CASES = [
    ("post", "/api/v1/departments/", {}, 400, [("required", "name")]),
    ("post", "/api/v1/departments/", {"name": "   "}, 400, [("required", "name")]),
    ("post", "/api/v1/departments/", {"name": LONG}, 400, [("name_length", "name")]),
    ("post", "/api/v1/departments/", {"name": "sales"}, 400, [("name_taken", "name")]),
    ("post", "/api/v1/departments/", {"name": ["x"]}, 400, [("invalid", "name")]),
    ("post", "/api/v1/departments/", {"name": "X", "managers": "x"}, 400, [("invalid", "managers")]),
    ("post", "/api/v1/departments/", {"name": "X", "managers": None}, 400, [("required", "managers")]),
    ("post", "/api/v1/departments/", [], 400, [("invalid", None)]),
    ("patch", "/api/v1/departments/{support}/", {"name": "SALES"}, 400, [("name_taken", "name")]),
    ("patch", "/api/v1/departments/{support}/", {"name": LONG}, 400, [("name_length", "name")]),
    ("post", "/api/v1/teams/", {"name": "X"}, 400, [("required", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": "abc"}, 400, [("invalid", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": True}, 400, [("invalid", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": 1.5}, 400, [("invalid", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": 10**30}, 400, [("not_found", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": 0}, 400, [("not_found", "department")]),
    ("post", "/api/v1/teams/", {"name": "X", "department": -3}, 400, [("not_found", "department")]),
    ("patch", "/api/v1/teams/{south}/", {"name": "north"}, 400, [("name_taken", "name")]),
    ("patch", "/api/v1/teams/{south}/", {"leads": [{"id": 1}]}, 400, [("invalid", "leads.0")]),
    ("post", "/api/v1/members/", {}, 400, [("required", "email")]),
    ("post", "/api/v1/members/", {"email": "not-an-address"}, 400, [("invalid", "email")]),
    ("post", "/api/v1/members/", {"email": NEW, "team": "abc"}, 400, [("invalid", "team")]),
    ("post", "/api/v1/members/", {"email": NEW, "first_name": LONG}, 400, [("max_length", "first_name")]),
    ("post", "/api/v1/members/", {"email": NEW, "role": "boss"}, 400, [("invalid", "role")]),
    ("post", "/api/v1/members/", {"email": NEW, "language": "de"}, 400, [("language_invalid", "language")]),
    ("post", "/api/v1/members/", {"email": "ADMIN@acme.example"}, 400, [("email_taken", "email")]),
    ("post", "/api/v1/members/", {"email": NEW, "is_active": "perhaps"}, 400, [("invalid", "is_active")]),
    (
        "post",
        "/api/v1/members/",
        {"email": NEW, "department": "{support}", "team": "{north}"},
        400,
        [("team_not_in_department", "team")],
    ),
    ("patch", "/api/v1/members/{member}/", {"team": "abc"}, 400, [("invalid", "team")]),
    ("patch", "/api/v1/members/{member}/", {"email": 5}, 400, [("invalid", "email")]),
    ("post", "/api/v1/members/move/", {}, 400, [("required", "members"), ("required", "team")]),
    ("post", "/api/v1/members/move/", {"members": "x", "team": "{south}"}, 400, [("invalid", "members")]),
    (
        "post",
        "/api/v1/members/move/",
        {"members": ["{member}", "x"], "team": "{south}"},
        400,
        [("invalid", "members.1")],
    ),
    ("post", "/api/v1/members/move/", {"members": [], "team": "{south}"}, 400, [("empty", "members")]),
    (
        "post",
        "/api/v1/members/move/",
        {"members": [1] * 1001, "team": "{south}"},
        400,
        [("max_length", "members")],
    ),
    ("post", "/api/v1/members/move/", {"members": ["{member}"], "team": "abc"}, 400, [("invalid", "team")]),
    ("delete", "/api/v1/teams/{south}/?move_to=abc", None, 400, [("invalid", "move_to")]),
    ("delete", "/api/v1/departments/{support}/?move_to=1.5", None, 400, [("invalid", "move_to")]),
    ("get", "/api/v1/teams/?department=abc", None, 400, [("invalid", "department")]),
    ("get", f"/api/v1/teams/?department={10**30}", None, 400, [("invalid", "department")]),
    ("get", "/api/v1/departments/abc/", None, 404, [("not_found", None)]),
    ("get", f"/api/v1/teams/{10**30}/", None, 404, [("not_found", None)]),
    ("patch", "/api/v1/members/-1/", {"first_name": "X"}, 404, [("not_found", None)]),
    ("delete", f"/api/v1/departments/{MISSING}/", None, 404, [("not_found", None)]),
    ("put", "/api/v1/departments/{sales}/", {"name": "X"}, 405, [("method_not_allowed", None)]),
    ("delete", "/api/v1/members/{member}/", None, 405, [("method_not_allowed", None)]),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "expected"), BAD_INPUT_CASES)
def test_bad_input_is_refused_with_the_error_format(org, client_for, method, path, body, status, expected):
    # given Acme's admin and the company as it is
    client = client_for(org.admin)
    before = snapshot(org.company)
    # when they send it, then it is refused with the documented codes and nothing changes
    response = send(client, method, fill(path, refs_of(org)), fill(body, refs_of(org)))
    assert response.status_code == status, response.content
    assert errors(response) == expected
    assert snapshot(org.company) == before


@pytest.mark.parametrize(
    "path", ["/api/v1/departments/", "/api/v1/teams/", "/api/v1/members/", "/api/v1/members/move/"]
)
def test_malformed_json_and_other_media_types_are_refused(org, caller, path):
    before = snapshot(org.company)
    broken = caller.post(path, '{"name": "X",', content_type="application/json")
    as_text = caller.post(path, "name=X", content_type="text/plain")
    as_form = caller.post(path, {"name": "X"})  # multipart: for file uploads only
    assert (broken.status_code, errors(broken)) == (400, [("parse_error", None)])
    for response in (as_text, as_form):
        assert (response.status_code, errors(response)) == (415, [("unsupported_media_type", None)])
    assert snapshot(org.company) == before


# --- query counts ----------------------------------------------------------------------------------------


def _grow(org, extra: int) -> None:
    """`extra` more departments (each with a manager), teams (each with a lead) and people."""
    with company_context(org.company.id):
        for n in range(extra):
            department = department_create(name=f"Unit {n}")
            team = team_create(name=f"Unit {n} team", department=department)
            department_update(department=department, managers=[org.direct])
            team_update(team=team, leads=[org.seller])
        for n in range(extra):
            MemberFactory(email=f"grown{n}@acme.example", team=org.north)


# Session: session, user, viewer's Member, SAVEPOINT (ATOMIC_REQUESTS inside the test's transaction),
# COUNT, page, prefetch of managers or leads (members: the user is joined), RELEASE SAVEPOINT.
# A token: the token instead of session + user + Member (its last use was written a moment ago).
_LIST_QUERIES = {
    ("session", "departments"): 8,
    ("session", "teams"): 8,
    ("session", "members"): 7,
    ("token", "departments"): 6,
    ("token", "teams"): 6,
    ("token", "members"): 5,
}


@pytest.mark.parametrize("kind", ["departments", "teams", "members"])
@pytest.mark.parametrize("who", ["session", "token"])
def test_list_endpoints_have_constant_query_counts(
    org, client_for, token_client, django_assert_num_queries, who, kind
):
    # given a list with its first rows, read by the admin or a token (its last use already recorded)
    client = client_for(org.admin) if who == "session" else token_client(org.company)
    client.get(f"/api/v1/{kind}/")
    with django_assert_num_queries(_LIST_QUERIES[who, kind]):
        few = client.get(f"/api/v1/{kind}/")
    # when it grows by twenty of each
    _grow(org, 20)
    # then the same number of queries reads many more rows
    with django_assert_num_queries(_LIST_QUERIES[who, kind]):
        many = client.get(f"/api/v1/{kind}/")
    assert many.json()["count"] == few.json()["count"] + 20


def test_a_managers_member_list_has_a_constant_query_count(org, client_for, django_assert_num_queries):
    # given a manager, whose visibility takes their departments and teams (two more queries)
    client = client_for(org.manager)
    with django_assert_num_queries(9):
        few = client.get("/api/v1/members/")
    _grow(org, 20)  # twenty more people in North, which is in the manager's Sales
    with django_assert_num_queries(9):
        many = client.get("/api/v1/members/")
    assert many.json()["count"] == few.json()["count"] + 20


# --- The company's settings: /api/v1/company/ (O7, issue 17) --------------------------------------------


def test_a_company_admin_turns_self_reporting_on_and_everyone_reads_it(org, other_company, client_for):
    """O5, O7, issue 17: self-reporting is off by default; a company admin turns it on for their
    own company only."""
    # given the company as anyone of it reads it
    body = client_for(org.member).get("/api/v1/company/").json()
    assert (body["slug"], body["self_reporting"]) == (org.company.slug, False)
    # when its admin turns self-reporting on
    response = client_for(org.admin).patch("/api/v1/company/", {"self_reporting": True}, format="json")
    # then it is on, for this company only
    assert response.status_code == 200, response.content
    assert response.json()["self_reporting"] is True
    org.company.refresh_from_db()
    other_company.refresh_from_db()
    assert (org.company.self_reporting, other_company.self_reporting) == (True, False)


@pytest.mark.parametrize("who", ["manager", "lead", "member"])
def test_only_a_company_admin_or_an_org_token_changes_the_settings(org, client_for, token_client, who):
    client = client_for(getattr(org, who))
    response = client.patch("/api/v1/company/", {"self_reporting": True}, format="json")
    assert response.status_code == 403
    read_only = token_client(org.company, scopes=["read"])
    assert read_only.patch("/api/v1/company/", {"self_reporting": True}, format="json").status_code == 403
    org.company.refresh_from_db()
    assert org.company.self_reporting is False
    by_token = token_client(org.company, scopes=["org"]).patch(
        "/api/v1/company/", {"self_reporting": True}, format="json"
    )
    assert by_token.status_code == 200, by_token.content


def test_the_api_changes_every_setting_through_the_page_s_service_and_keeps_the_history(
    org, client_for, token_client
):
    """O7: the API and the settings page share ``company_update``: its rules, its messages and
    its history."""
    from kpis.models import Change

    # when the admin changes the schedule and the zone, and a token the tracking frequencies
    by_admin = client_for(org.admin).patch(
        "/api/v1/company/", {"time_zone": "Asia/Tokyo", "report_hour": 18}, format="json"
    )
    by_token = token_client(org.company, scopes=["org"]).patch(
        "/api/v1/company/", {"secondary_frequency": "daily"}, format="json"
    )
    # then both are saved and read back
    assert by_admin.status_code == 200, by_admin.content
    assert by_token.json()["secondary_frequency"] == "daily"
    assert (by_token.json()["time_zone"], by_token.json()["report_hour"]) == ("Asia/Tokyo", 18)
    # and the history names each actor with what changed
    with company_context(org.company.id):
        entries = [
            (change.actor_label, change.changes)
            for change in Change.objects.filter(object_type="company").order_by("id")
        ]
    assert entries[0][1] == {"time_zone": ["Europe/Moscow", "Asia/Tokyo"], "report_hour": [8, 18]}
    assert entries[1][0].startswith("API token")
    assert entries[1][1] == {"secondary_frequency": ["weekly", "daily"]}


def test_bad_settings_through_the_api_answer_400_with_each_field_and_change_nothing(org, client_for):
    response = client_for(org.admin).patch(
        "/api/v1/company/",
        {"time_zone": "Mars/Base", "report_hour": 25, "languages": ["en"], "default_language": "ru"},
        format="json",
    )
    assert response.status_code == 400
    assert [(error["code"], error["field"]) for error in response.json()["errors"]] == [
        ("time_zone_invalid", "time_zone"),
        ("default_language_not_enabled", "default_language"),
        ("report_hour_invalid", "report_hour"),
    ]
    org.company.refresh_from_db()
    assert (org.company.time_zone, org.company.report_hour) == ("Europe/Moscow", 8)
