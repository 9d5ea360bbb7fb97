"""The tenant isolation matrix (issue 8 item 1; PRODUCT O2, O4; OWASP API1: broken object level
authorization).

Every URL of the API, the admin and the pages comes from the URL resolver (and the API's methods
from the view classes, checked against the OpenAPI schema), so a new endpoint is in the matrix
without anyone remembering it. For two companies and every role (and every token scope), company
B's objects answer company A exactly like ids that do not exist, show none of B's data, and stay
unchanged; lists, filters, autocomplete, exports, import results, error reports and cached pages
show none of B's data either; role limits answer 403 (the admin: its sign-in page).
"""

import datetime

import pytest
from django.db import transaction
from django.test import Client
from django.views.generic import RedirectView

from kpi_platform.tests import isolation
from kpi_platform.tests.isolation import GLOBAL_ADMIN_MODELS, principals, principals_for
from kpis.tests.factories import make_target
from orgs.models import Department, Member, Team
from orgs.tenancy import company_context
from ratings.services import actions_record

ROUTES = isolation.routes()


def _global(route) -> bool:
    model_admin = route.model_admin
    return model_admin is not None and model_admin.model._meta.label_lower in GLOBAL_ADMIN_MODELS


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Both companies, built once for the module in a transaction rolled back at its end; each
    test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield isolation.build_world()
        transaction.set_rollback(True)


OBJECT_CASES = [
    pytest.param(route, principal, id=f"{route}-{principal}")
    for route in ROUTES
    if route.kwargs and set(route.kwargs) - set(isolation.VALUE_KWARGS)
    for principal in principals(route.surface)
    if not (principal == "operator" and _global(route))
]


@pytest.mark.parametrize(("route", "principal"), OBJECT_CASES)
def test_another_companys_object_answers_like_a_missing_one_and_stays_unchanged(db, world, route, principal):
    assert isolation.check_object_route(route, principal, world) == []


@pytest.fixture(scope="module")
def schema():
    return isolation.api_schema()


REFERENCE_CASES = [
    pytest.param(route, principal, id=f"{route}-{principal}")
    for route in ROUTES
    if route.surface in ("api", "pages")
    for principal in principals_for(route)
]


@pytest.mark.parametrize(("route", "principal"), REFERENCE_CASES)
def test_another_companys_ids_in_queries_and_bodies_answer_like_missing_ones(
    db, world, schema, route, principal
):
    assert isolation.check_references(route, principal, world, schema) == []


ADMIN_LIST_CASES = [
    pytest.param(route, principal, id=f"{route}-{principal}")
    for route in ROUTES
    if route.surface == "admin" and not route.object_kwargs
    for principal in principals_for(route)
    if not (principal == "operator" and _global(route))
]


@pytest.mark.parametrize(("route", "principal"), ADMIN_LIST_CASES)
def test_admin_lists_search_filters_actions_exports_and_autocomplete_hide_another_company(
    db, world, route, principal
):
    assert isolation.check_admin_list(route, principal, world) == []


# --- The matrix covers everything, and means something -------------------------------------------


def test_every_url_keyword_is_registered():
    """A new URL with an id the matrix cannot fill fails here (and in its matrix rows) until it is
    registered, with the message saying where."""
    unknown = []
    for route in ROUTES:
        for kwarg in route.object_kwargs:
            try:
                route.model_of(kwarg)
            except isolation.Unregistered as error:
                unknown.append(str(error))
    assert unknown == []


def test_the_matrix_asks_every_operation_of_the_openapi_schema(schema):
    in_matrix = {
        (isolation.schema_path(route), method)
        for route in ROUTES
        if route.surface == "api"
        for method in route.methods()
    }
    in_schema = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert in_schema - in_matrix == set()
    assert {path for path, _method in in_matrix} == set(schema["paths"])


OWN_OBJECT_CASES = [pytest.param(route, id=str(route)) for route in ROUTES if route.object_kwargs]


@pytest.mark.parametrize("route", OWN_OBJECT_CASES)
def test_a_companys_own_objects_are_found_so_the_matrix_proves_something(db, world, route):
    """Company A's admin (session, or a token with every scope on the API) gets something else
    for A's own object than for an id that exists nowhere: B's 'not found' is not a broken URL.
    Except where no object is looked up: a view closed to everyone of a company (403: deleting
    what is never deleted), the admin's ``<id>/`` shim to ``<id>/change/``, and Django's "view on
    site", which kpi_platform/urls.py answers 404."""
    principal = "token:" + "+".join(isolation.TOKEN_SCOPES[-1]) if route.surface == "api" else "admin"
    if _global(route):
        principal = "operator"
    side = world.a
    values = {**isolation.value_kwargs(route), **isolation.ids_of(route, side)}
    missing = {**isolation.value_kwargs(route), **dict.fromkeys(route.object_kwargs, isolation.MISSING_ID)}
    ids = (*isolation.ids_of(route, side).values(), isolation.MISSING_ID)
    client = isolation.client_of(world, principal)
    for method in route.methods():  # the first the view takes (some admin views only POST)
        found = isolation.request(client, method, isolation.url_for(route, values), route.surface)
        if found.status_code != 405:
            break
    not_found = isolation.request(client, method, isolation.url_for(route, missing), route.surface)
    assert found.status_code < 500
    if route.name == "view_on_site" or found.status_code == 403:
        assert isolation.answer(found, ids) == isolation.answer(not_found, ids)
        assert found.status_code in (403, 404)
    elif getattr(route.pattern.callback, "view_class", None) is RedirectView:
        assert found["Location"] == isolation.url_for(route, values) + "change/"
    else:
        assert isolation.answer(found, ids) != isolation.answer(not_found, ids)


# --- Role limits (O4): 403 (the admin: its sign-in page, as for anyone not a company admin) ----------

API_WRITES = [
    pytest.param(route, method, id=f"{method.upper()} {route}")
    for route in ROUTES
    if route.surface == "api"
    for method in route.methods()
    if method in isolation.WRITE_METHODS
]


@pytest.mark.parametrize(("route", "method"), API_WRITES)
def test_a_read_only_token_may_not_write_through_the_api(db, world, route, method):
    """Scopes (I2): every write of the API, found in the URL conf, refuses a ``read`` token."""
    before = isolation.snapshot(world.a.company)
    client = isolation.client_of(world, "token:read")
    url = isolation.url_for(route, {**isolation.value_kwargs(route), **isolation.ids_of(route, world.a)})

    response = isolation.request(client, method, url, "api")

    assert response.status_code == 403, response.content
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert isolation.changes(before, isolation.snapshot(world.a.company)) == []


def test_a_member_may_see_their_own_units_but_not_change_them(db, world):
    """O4: what a member sees but may not manage answers 403 (what they do not see, 404: above)."""
    member = world.a.people["member"]
    team, department = member.team_id, member.department_id
    writes = [
        ("patch", f"/api/v1/teams/{team}/", {"name": "renamed"}),
        ("delete", f"/api/v1/teams/{team}/", None),
        ("patch", f"/api/v1/departments/{department}/", {"name": "renamed"}),
        ("delete", f"/api/v1/departments/{department}/", None),
        ("post", "/api/v1/teams/", {"name": "new", "department": department}),
        ("post", "/api/v1/departments/", {"name": "new"}),
        ("post", "/api/v1/members/move/", {"members": [member.pk], "team": team}),
        ("post", "/api/v1/units/", {"name": {"en": "new", "ru": "new"}}),
    ]
    before = isolation.snapshot(world.a.company)
    client = isolation.client_of(world, "member")
    assert client.get(f"/api/v1/teams/{team}/").status_code == 200

    answers = [
        (method, url, getattr(client, method)(url, body, content_type="application/json").status_code)
        for method, url, body in writes
    ]

    assert answers == [(method, url, 403) for method, url, _body in writes]
    assert isolation.changes(before, isolation.snapshot(world.a.company)) == []


def _page_limits(world) -> list[tuple[str, str, int | str]]:
    """(who, page of A, what they get): the pages' role limits (README "Dashboards", PRODUCT O4)."""
    a = world.a
    own_team = a.people["member"].team_id
    return [
        *[(role, "/dashboards/company/", 403) for role in ("manager", "lead", "member")],
        *[(role, "/dashboards/company/export.csv", 403) for role in ("manager", "lead", "member")],
        ("member", "/logger/", 403),
        ("member", f"/dashboards/teams/{a.other_team.id}/", 404),  # another unit: not found
        ("lead", f"/dashboards/teams/{a.other_team.id}/", 404),
        ("member", f"/dashboards/departments/{a.people['manager'].department_id}/", 404),
        ("member", f"/people/{a.people['lead'].pk}/", 404),
        ("member", f"/leaderboard/?scope=team:{a.other_team.id}", 404),
        ("lead", f"/dashboards/teams/{own_team}/", 200),
        ("manager", f"/dashboards/teams/{a.other_team.id}/", 200),  # a team of their department
        ("admin", "/dashboards/company/", 200),
        *[(role, "/admin/", "login") for role in ("manager", "lead", "member")],
        *[(role, "/admin/orgs/member/", "login") for role in ("manager", "lead", "member")],
        ("admin", "/admin/orgs/member/", 200),
        ("operator", "/admin/orgs/member/", 403),  # operators manage companies, not their people
        ("operator", "/dashboards/company/", 404),  # no company, no pages
        # The company settings (O7): company admins only; nobody else's company is reachable, as
        # the page takes no id (the matrix's reference cases: B's name never shows).
        *[(role, "/organization/settings/", 403) for role in ("manager", "lead", "member")],
        ("admin", "/organization/settings/", 200),
        ("operator", "/organization/settings/", 404),
    ]


def test_only_company_admins_are_staff(db, world):
    """Why the matrix asks the admin site as an admin and a member only: the other roles are
    turned away at its door exactly like a member (its sign-in page, below)."""
    for side in (world.a, world.b):
        assert {role: member.user.is_staff for role, member in side.people.items()} == {
            role: role == "admin" for role in isolation.ROLES
        }


def test_a_company_admin_changes_their_own_companys_settings_only(db, world):
    """O2, O7: the settings page changes the company of the session, whatever the form says."""
    from orgs.models import Company

    a, b = world.a.company, world.b.company
    client = isolation.client_of(world, "admin")
    form = {
        "name": "Renamed by A",
        "time_zone": "Asia/Tokyo",
        "languages": list(a.languages),
        "default_language": a.default_language,
        "primary_frequency": "daily",
        "secondary_frequency": "daily",
        "report_frequency": "off",
        "report_hour": "3",
        "company": b.id,
        "slug": b.slug,
    }
    before = isolation.snapshot(b)
    response = client.post("/organization/settings/", form)
    assert response.status_code == 302
    assert Company.objects.get(id=a.id).name == "Renamed by A"
    theirs = Company.objects.get(id=b.id)
    assert (theirs.name, theirs.time_zone, theirs.report_frequency) == (
        b.name,
        b.time_zone,
        b.report_frequency,
    )
    assert isolation.changes(before, isolation.snapshot(b)) == []
    assert not isolation.shown(client.get("/organization/settings/"), world.markers)


def test_role_limits_on_pages_and_the_admin(db, world):
    got = []
    for principal, path, _expected in _page_limits(world):
        response = isolation.client_of(world, principal).get(path)
        status = response.status_code
        if status == 302 and response["Location"].startswith("/admin/login/"):
            status = "login"
        got.append((principal, path, status))
    assert got == _page_limits(world)


# --- The test of the test: a new URL without scoping fails the matrix ---------------------------------


def _without_the_second_wall(table: str) -> None:
    """PostgreSQL: turn row-level security off for ``table`` in this test's transaction (rolled
    back after it), so the ORM scoping is the only wall, as on SQLite."""
    from django.conf import settings
    from django.db import connection
    from psycopg import sql

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
        cursor.execute("SET LOCAL ROLE NONE")
        cursor.execute(sql.SQL("ALTER TABLE {} DISABLE ROW LEVEL SECURITY").format(sql.Identifier(table)))
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(settings.DATABASE_APP_ROLE)))


@pytest.mark.urls("kpi_platform.tests.leaky_urls")
def test_a_new_url_without_company_scoping_fails_the_matrix(db, world):
    from kpi_platform.tests.leaky_urls import LEAKS

    # given the real URLs plus two new ones, found by the matrix's own walk of the resolver
    new = [route for route in isolation.routes() if route.route not in {r.route for r in ROUTES}]
    assert [route.route for route in new] == LEAKS
    unscoped, unknown = new

    # when the matrix asks the unscoped one for B's department, as each of A's roles
    _without_the_second_wall("orgs_department")
    problems = {}
    for principal in principals("pages"):
        with transaction.atomic():  # each starts from the world as built (the leak writes)
            problems[principal] = isolation.check_object_route(unscoped, principal, world)
            transaction.set_rollback(True)

    # then it reports the leak: B's department answers unlike a missing one, shows B's name, and
    # B's department was renamed
    department = world.b.object_of(isolation.Department)
    for principal, found in problems.items():
        where = f"GET /leaky/departments/{department}/ as {principal}"
        assert (
            f"{where}: answers (200, '', {{'name': 'globex sales'}}), "
            "but an id that does not exist (404, '', None)"
        ) in found
        assert f"{where}: shows B's data (['globex'])" in found
        assert f"as {principal}: orgs.department: rows changed" in found

    # and the URL with an id the matrix does not know fails it with what to do
    with pytest.raises(
        isolation.Unregistered, match=r"takes 'widget_id'.*Register it in kpi_platform/tests/isolation.py"
    ):
        isolation.check_object_route(unknown, "admin", world)


@pytest.mark.postgres
@pytest.mark.urls("kpi_platform.tests.leaky_urls")
def test_on_postgresql_the_second_wall_alone_still_stops_the_unscoped_url(db, world):
    """Row-level security (issue 8 item 2) hides B's rows even from a view that bypasses the ORM's
    scoping: with the wall in place the matrix finds nothing to report."""
    unscoped = next(route for route in isolation.routes() if route.route.startswith("leaky/departments/"))
    assert isolation.check_object_route(unscoped, "admin", world) == []


# --- In-company rules for every role (O4, O5, issue 17) ------------------------------------------------


def _record_for_self(world, principal: str):
    """The status of ``principal`` recording 5 of A's KPI for themselves (a token: for the lead)."""
    a = world.a
    who = "lead" if principal.startswith("token:") else principal
    body = {"kpi": f"{a.tag}_revenue", "user": a.people[who].user.email, "value": "5"}
    return isolation.client_of(world, principal).post(
        "/api/v1/actions/", body, content_type="application/json"
    )


def _void_own(world, principal: str) -> int:
    """The status of ``principal`` voiding an action of their own (the world records some)."""
    from ratings.models import KpiAction

    a = world.a
    member = a.people[principal]
    with company_context(a.company.id):
        action = KpiAction.objects.filter(member=member, voided_at__isnull=True).order_by("id").last()
        if action is None:
            action = actions_record(items=[{"kpi": f"{a.tag}_revenue", "user": member, "value": "1"}])
            action = KpiAction.objects.get(id=action.results[0]["id"])
    client = isolation.client_of(world, principal)
    url = f"/api/v1/actions/{action.id}/void/"
    return client.post(url, {"reason": "mine"}, content_type="application/json").status_code


# Who records and voids for themselves: (without self-reporting, with it). A token records for anyone.
SELF_RECORDING = {
    "admin": ((201, 200), (201, 200)),
    "manager": ((400, 403), (201, 200)),
    "lead": ((400, 403), (201, 200)),
    "member": ((403, 403), (201, 200)),
}


@pytest.mark.parametrize("self_reporting", [False, True], ids=["off", "self_reporting"])
def test_people_record_and_void_for_themselves_only_as_o5_and_the_company_allow(db, world, self_reporting):
    """O5, issue 17: heads record and void for the people they manage, not for themselves; a
    company admin and a token for anyone; with ``self_reporting`` everyone for themselves too."""
    from orgs.services import company_update

    company_update(company=world.a.company, self_reporting=self_reporting)
    got, expected = {}, {}
    for role, answers in SELF_RECORDING.items():
        recorded = _record_for_self(world, role)
        got[role] = (recorded.status_code, _void_own(world, role))
        expected[role] = answers[self_reporting]
        if recorded.status_code == 400:
            assert recorded.json()["errors"][0]["code"] == "unknown_user"
    for scopes in isolation.TOKEN_SCOPES:
        principal = "token:" + "+".join(scopes)
        if "actions" in scopes:
            got[principal] = _record_for_self(world, principal).status_code
            expected[principal] = 201
    assert got == expected


def _held_targets(world) -> dict[str, int]:
    """Targets of A's KPI for each kind of holder, as people of every role see them or not."""
    from kpis.models import Kpi, Target

    a = world.a
    with company_context(a.company.id):
        kpi = Kpi.objects.get(integration_name=f"{a.tag}_revenue")
        east = Department.objects.get(name=f"{a.tag} east")
        south = Team.objects.get(name=f"{a.tag} south")
        sales = Department.objects.get(name=f"{a.tag} sales")
        seller = Member.objects.get(user__email=f"seller@{a.tag}.example")
        holders = {
            "east": {"scope": "department", "department": east},
            "sales": {"scope": "department", "department": sales},
            "south": {"scope": "team", "team": south},
            "west": {"scope": "team", "team": a.other_team},
            **{
                role: {"scope": "user", "member": a.people[role]}
                for role in ("admin", "manager", "lead", "member")
            },
            "seller": {"scope": "user", "member": seller},
        }
        made = {
            name: make_target(kpi=kpi, start=datetime.date(2026, 10, 1), **fields).id
            for name, fields in holders.items()
        }
        assert Target.objects.filter(id__in=made.values()).count() == len(made)
    return made


# Whose targets each role reads (O4): a person's by that person and whoever sees them, a unit's by
# whoever sees the unit. The world's manager manages "east" (teams south, west); the lead leads south,
# where the member is; "sales" and its seller are out of everyone's reach but the admin's.
TARGETS_SEEN = {
    "admin": {"east", "sales", "south", "west", "admin", "manager", "lead", "member", "seller"},
    "manager": {"east", "south", "west", "manager", "lead", "member"},
    "lead": {"east", "south", "lead", "member"},
    "member": {"east", "south", "member"},
}


def test_other_peoples_targets_and_their_history_follow_the_holder_for_every_role(db, world):
    """O4, issue 17: the target list, a target's detail and the KPI's history show a target only
    to whoever may see its holder (a member read another person's target before)."""
    from kpis.models import Kpi

    made = _held_targets(world)
    names = {target_id: name for name, target_id in made.items()}
    with company_context(world.a.company.id):
        kpi_id = Kpi.objects.get(integration_name=f"{world.a.tag}_revenue").id
    expected = {**TARGETS_SEEN}
    for scopes in isolation.TOKEN_SCOPES:
        if "read" in scopes:
            expected["token:" + "+".join(scopes)] = TARGETS_SEEN["admin"]
    got = {}
    for principal in expected:
        client = isolation.client_of(world, principal)
        listed = client.get(f"/api/v1/targets/?kpi={kpi_id}&limit=100").json()["results"]
        details = {
            name
            for name, target_id in made.items()
            if client.get(f"/api/v1/targets/{target_id}/").status_code == 200
        }
        history = client.get(f"/api/v1/kpis/{kpi_id}/history/?limit=500").json()["results"]
        in_history = {
            names[e["object_id"]] for e in history if e["object_type"] == "target" and e["object_id"] in names
        }
        got[principal] = ({names[t["id"]] for t in listed if t["id"] in names}, details, in_history)
        expected[principal] = (expected[principal],) * 3
    assert got == expected


# --- A person in both companies (O3, issue 17) ----------------------------------------------------------

# What a session shows without naming an object: every page, API list and admin list the resolver has.
SESSION_PAGES = [
    route
    for route in ROUTES
    if not route.object_kwargs and "get" in route.methods() and route.name not in isolation.NO_COMPANY_DATA
]


def _sign_in_as_the_twin(world, side) -> Client:
    client = Client()
    asked = client.post(
        "/accounts/login/", {"username": isolation.TWIN_EMAIL, "password": isolation.TWIN_PASSWORD}
    )
    offered = [label for _value, label in asked.context["form"].fields["company"].choices]
    assert offered == sorted([world.a.company.name, world.b.company.name])
    chosen = client.post("/accounts/login/", {"username": isolation.TWIN_EMAIL, "company": side.company.id})
    assert chosen.status_code == 302
    assert client.session["_auth_user_id"] == str(world.twins[side.tag].pk)
    return client


@pytest.mark.parametrize("which", ["a", "b"])
def test_a_person_in_both_companies_signs_in_to_one_and_sees_only_its_data(db, world, which):
    """O3, issue 17: the twin (one e-mail, one password; admin at A, member at B) is asked which
    company, and in the session of the one chosen no page, API list or admin page shows the
    other's data; the role is that company's (the admin site lets the admin of A in, not the
    member of B)."""
    side, other = (world.a, world.b) if which == "a" else (world.b, world.a)
    client = _sign_in_as_the_twin(world, side)
    problems = []
    for route in SESSION_PAGES:
        path = isolation.url_for(route, isolation.value_kwargs(route))
        response = client.get(path)
        if response.status_code >= 500:
            problems.append(f"GET {path}: {response.status_code}")
        if leaked := isolation.shown(response, [other.tag]):
            problems.append(f"GET {path} as the twin at {side.tag}: shows {other.tag}'s data ({leaked})")
    assert problems == []
    assert client.get("/").status_code == 200
    admin = client.get("/admin/orgs/member/")
    assert (admin.status_code, which) in ((200, "a"), (302, "b"))
    # the other company's account of the same person is not found, as an id that does not exist
    theirs = world.twins[other.tag].pk
    for path in (f"/api/v1/members/{theirs}/", f"/people/{theirs}/"):
        got, missing = client.get(path), client.get(path.replace(str(theirs), str(isolation.MISSING_ID)))
        assert (got.status_code, isolation.shown(got, [other.tag])) == (missing.status_code, [])


def test_a_companys_token_never_reaches_the_twins_account_in_the_other_company(db, world):
    """O3, issue 17: A's token (every scope) lists A's account of the twin only and answers B's
    like an id that does not exist."""
    client = isolation.client_of(world, "token:" + "+".join(isolation.TOKEN_SCOPES[-1]))
    listed = client.get("/api/v1/members/", {"limit": 1000}).json()["results"]
    assert [row["id"] for row in listed if row["email"] == isolation.TWIN_EMAIL] == [world.twins["acme"].pk]
    theirs = client.get(f"/api/v1/members/{world.twins['globex'].pk}/")
    missing = client.get(f"/api/v1/members/{isolation.MISSING_ID}/")
    assert isolation.answer(theirs, (world.twins["globex"].pk, isolation.MISSING_ID)) == isolation.answer(
        missing, (world.twins["globex"].pk, isolation.MISSING_ID)
    )
