"""The tenant isolation matrix's machinery (issue 8 item 1; PRODUCT O2, O4; OWASP API1).

* ``routes()`` walks the URL resolver (the admin's ``get_urls`` included), so a new URL is in the
  matrix the moment it exists.
* ``URL_KWARGS`` says which model each URL keyword takes an id of; ``VALUE_KWARGS`` lists the
  keywords that are no id. A keyword in neither fails the matrix with a message saying where to
  register it: that is how a new URL that nobody thought about is caught.
* ``build_world()`` makes two companies with a row of every kind, people of every role, tokens of
  every scope and a platform operator.
* ``check_object_route()`` asks, as one principal of company A, for company B's object on every
  method the URL takes, and for an id that exists nowhere: the two answers must be the same (API.md:
  "an id of another company's object answers 404, exactly as an id that does not exist"), neither
  may show B's data, and B's rows must be unchanged afterwards.
"""

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from unittest import mock
from urllib.parse import unquote, urlencode

import openpyxl
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.connectors import register
from integrations.models import ImportJob, IntegrationSource
from integrations.services import (
    import_job_create,
    import_job_run,
    integration_source_create,
    integration_source_run,
    integration_source_run_now,
)
from integrations.tests.fake_connector import FAKE, FakeConnector, fake_reset
from kpi_platform.tests.company_data import populate
from kpis.models import Kpi, Target, Unit
from kpis.tests.factories import make_active_kpi, make_target, make_unit
from orgs.models import Company, Department, Member, Role, Team, TokenScope, User
from orgs.services import (
    api_token_create,
    company_create,
    department_create,
    department_update,
    team_create,
    team_update,
)
from orgs.tenancy import CompanyScopedModel, company_context
from orgs.tests.factories import MemberFactory
from ratings.models import KpiAction, Recalculation
from ratings.services import actions_record, recalculation_start

MISSING_ID = 987654321  # an id no row has: B's ids must answer exactly like it
WRITE_METHODS = ("post", "put", "patch", "delete")

# --- The registry ------------------------------------------------------------------------------


def _dashboard_org_unit(route: "Route"):
    return {"department": Department, "team": Team}[route.default_args["kind"]]


def _admin_model(route: "Route"):
    if route.name == "view_on_site":
        return Department  # with a department's content type (below)
    return route.model_admin.model if route.model_admin is not None else None


def _content_type_object(route: "Route"):
    return ContentType  # admin/r/<content_type_id>/<object_id>/: a department's, below


# URL keyword → the model whose id it takes (or a function of the route that says which).
URL_KWARGS = {
    "department_id": Department,
    "team_id": Team,
    "member_id": Member,
    "org_unit_id": _dashboard_org_unit,  # a department's or a team's dashboard (O6)
    "unit_id": Unit,  # a unit of measurement (K3)
    "kpi_id": Kpi,
    "target_id": Target,
    "action_id": KpiAction,
    "recalculation_id": Recalculation,
    "job_id": ImportJob,
    "source_id": IntegrationSource,
    "object_id": _admin_model,  # the admin's change, delete, history and custom views
    "content_type_id": _content_type_object,
}

# URL keywords that are no object id, with the values the matrix tries.
VALUE_KWARGS = {
    "fmt": ["csv", "xlsx"],  # exports and error reports
    "app_label": ["orgs"],  # the admin's app index
    "url": ["no-such-page/"],  # the admin's catch-all
    # A password reset link (issue 18): an account's id in base64 and a token signed for that
    # account; no link works without the token its mail carried (orgs/tests/test_password_reset.py).
    "uidb64": ["MQ", "MTIzNDU2Nzg5"],
    "token": ["set-password", "c5s0a1-0123456789abcdef0123456789abcdef"],
}

# Models with an admin that belong to no company: what A's company roles must not reach either,
# but a platform operator may (they manage companies, and sign-in lockouts are nobody's data).
GLOBAL_ADMIN_MODELS = {
    "orgs.company": "platform operators manage companies (O1)",
    "axes.accessattempt": "sign-in lockouts (django-axes) belong to no company; superusers only",
    "axes.accesslog": "as above",
    "axes.accessfailurelog": "as above",
}


class Unregistered(AssertionError):
    pass


def unregistered(route: "Route", kwarg: str) -> Unregistered:
    return Unregistered(
        f"The URL {route.route!r} ({route.name}) takes {kwarg!r}, which the isolation matrix does not "
        f"know. Register it in kpi_platform/tests/isolation.py: in URL_KWARGS with the model whose id it "
        f"takes (and make build_world() create a row of it in both companies), or in VALUE_KWARGS if it "
        f"is no id."
    )


# --- Routes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str
    pattern: URLPattern = field(compare=False, repr=False)
    kwargs: tuple[str, ...]

    def __str__(self) -> str:
        return self.route

    @property
    def name(self) -> str | None:
        return self.pattern.name

    @property
    def default_args(self) -> dict:
        return self.pattern.default_args

    @property
    def surface(self) -> str:
        if self.route.startswith("api/v1/"):
            return "api"
        return "admin" if self.route.startswith("admin/") else "pages"

    @property
    def model_admin(self):
        """The ModelAdmin of an admin URL, custom views (``get_urls``) included, found by the
        URL's name, which Django's convention starts with ``<app>_<model>_``."""
        found = getattr(self.pattern.callback, "model_admin", None)
        if found is not None or self.surface != "admin" or not self.name:
            return found
        for model, model_admin in admin.site._registry.items():
            if self.name.startswith(f"{model._meta.app_label}_{model._meta.model_name}_"):
                return model_admin
        return None

    @property
    def object_kwargs(self) -> list[str]:
        return [kwarg for kwarg in self.kwargs if kwarg not in VALUE_KWARGS]

    def model_of(self, kwarg: str):
        if kwarg not in URL_KWARGS:
            raise unregistered(self, kwarg)
        model = URL_KWARGS[kwarg]
        model = model if isinstance(model, type) else model(self)
        if model is None:
            raise unregistered(self, kwarg)
        return model

    def methods(self) -> list[str]:
        """The methods the view takes: a class-based view's handlers; GET and POST otherwise."""
        view_class = getattr(self.pattern.callback, "view_class", None)
        if view_class is None or self.surface == "admin":
            return ["get", "post"]
        return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]


def routes(urlconf=None) -> list[Route]:
    return list(_walk(get_resolver(urlconf), "", ()))


def _walk(resolver: URLResolver, prefix: str, kwargs: tuple):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
        names = kwargs + tuple(pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, route, names)
        elif isinstance(pattern, URLPattern):
            yield Route(route, pattern, names)


# --- The world: two companies, every kind of row, every role ----------------------------------------

ROLES = ("admin", "manager", "lead", "member")
TOKEN_SCOPES = (*[(scope,) for scope in TokenScope.values], tuple(TokenScope.values))


@dataclass
class Side:
    """One company of the world, with one object of every kind and its people."""

    company: Company
    tag: str
    people: dict[str, Member]
    tokens: dict[tuple[str, ...], str]  # scopes → secret
    other_team: Team  # a team the lead and the member do not belong to

    def object_of(self, model) -> int:
        """The id of one of this company's rows of ``model`` (a row of each exists)."""
        if model is ContentType:
            return ContentType.objects.get_for_model(Department).pk
        if model is Company:
            return self.company.pk
        if model._meta.label_lower in GLOBAL_ADMIN_MODELS:
            row = model.objects.order_by("pk").first()
            assert row is not None, f"build_world() makes no {model.__name__}"
            return row.pk
        assert issubclass(model, CompanyScopedModel), f"{model.__name__} is neither company-owned nor global"
        with company_context(self.company.id):
            pk = model.objects.order_by("pk").values_list("pk", flat=True).first()
        assert pk is not None, f"build_world() makes no {model.__name__} in {self.company}: add one"
        return pk


# One person with an account in both companies (O3, issue 17): a company admin at A, a member at B,
# one e-mail and one password. Their address names neither company; each account's name carries
# its company's tag, so B's account is B's data like any other.
TWIN_EMAIL = "twin@both.example"
TWIN_PASSWORD = "twin-2026-pass-word"


@dataclass
class World:
    a: Side
    b: Side
    operator: User
    twins: dict[str, Member] = field(default_factory=dict)  # company tag → the twin's account there
    b_rows: dict[str, list] = field(default_factory=dict)  # B's rows as built (tests roll back)

    @property
    def markers(self) -> list[str]:
        """What only B's data contains: every name and e-mail of B carries its tag."""
        return [self.b.tag]


def _side(slug: str, languages: list[str], tag: str) -> Side:
    company = company_create(slug=slug, name=tag.title(), languages=languages, time_zone="UTC")[0]
    with company_context(company.id):
        admin = MemberFactory(
            email=f"admin-x@{tag}.example", first_name=tag.title(), last_name="admin", role=Role.ADMIN
        )
    # The company's first action is its admin's: the activity logger's undo finds one's own only.
    populate(company, tag, recorded_by=admin)
    with company_context(company.id):
        department = department_create(name=f"{tag} east")
        team = team_create(name=f"{tag} south", department=department)
        other_team = team_create(name=f"{tag} west", department=department)
        people = {
            role: admin
            if role == "admin"
            else MemberFactory(
                email=f"{role}-x@{tag}.example",
                first_name=tag.title(),
                last_name=role,
                role=getattr(Role, role.upper()),
                department=department if role == "manager" else None,
                team=team if role in ("lead", "member") else None,
            )
            for role in ROLES
        }
        department_update(department=department, managers=[people["manager"]])
        team_update(team=team, leads=[people["lead"]])
        unit = make_unit(name=dict.fromkeys(languages, f"{tag} deals"))
        kpi = make_active_kpi(
            company,
            name=dict.fromkeys(languages, f"{tag} revenue"),
            integration_name=f"{tag}_revenue",
            unit=unit,
            in_rating=True,
        )
        make_target(kpi=kpi)
        actions_record(
            items=[{"kpi": kpi, "user": people[role], "value": "5"} for role in ("lead", "member")]
        )
        recalculation_start(kpi=kpi, actor=None)
        rows = f"user,kpi,value,occurred_at,external_id,comment\nnobody@{tag}.example,{tag}_revenue,1,,,\n"
        job = import_job_create(file=SimpleUploadedFile(f"{tag}.csv", rows.encode()), actor=people["admin"])
        import_job_run(job_id=job.id)  # fails: an unknown person; its errors make a report
        # An integration source with a failed run (an unknown person) and a secret of its own.
        register(FakeConnector)
        source = integration_source_create(
            name=f"{tag} crm",
            kind=FakeConnector.kind,
            credentials={"token": f"{tag}-secret"},
            mapping={"person": "email", "kpi_fixed": f"{tag}_revenue"},
        )
        fake_reset()
        FAKE.rows = [{"id": f"{tag}-1", "email": f"nobody@{tag}.example"}]
        with mock.patch("integrations.services.integration_source_run_task"):
            integration_source_run_now(source=source)
        integration_source_run(source_id=source.id)
        fake_reset()
        tokens = {
            scopes: api_token_create(name=f"{tag} {'+'.join(scopes)}", scopes=list(scopes)).secret
            for scopes in TOKEN_SCOPES
        }
    return Side(company, tag, people, tokens, other_team)


def build_world() -> World:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    a = _side("acme", ["en", "ru"], "acme")
    b = _side("globex", ["en"], "globex")
    who = {"username": "someone@example.com", "ip_address": "192.0.2.1", "user_agent": "test"}
    AccessAttempt.objects.create(**who, failures_since_start=1)  # one of each, for their admin pages
    AccessLog.objects.create(**who)
    AccessFailureLog.objects.create(**who)
    operator = User.objects.create_superuser("operator@platform.example", "operator-2026-pass")
    twins = {}
    for side, role in ((a, Role.ADMIN), (b, Role.MEMBER)):
        with company_context(side.company.id):
            twins[side.tag] = MemberFactory(
                email=TWIN_EMAIL,
                password=TWIN_PASSWORD,
                first_name=side.tag.title(),
                last_name="twin",
                role=role,
                team=side.people["member"].team,
            )
    return World(a, b, operator, twins, snapshot(b.company))


# --- Principals --------------------------------------------------------------------------------------


# URLs that show no company's data, the same to everyone: asked by a company admin only.
NO_COMPANY_DATA = {
    "api-schema": "the OpenAPI schema",
    "api-docs": "the API's documentation page",
    "healthz": "the health check",
    "set_language": "the language switch",
    "login": "the sign-in pages",
    "logout": "the sign-out",
    "jsi18n": "the admin's translations",
    "password_change_done": "a confirmation",
}


def principals_for(route: Route) -> list[str]:
    return ["admin"] if route.name in NO_COMPANY_DATA else principals(route.surface)


def principals(surface: str) -> list[str]:
    """Who of company A asks: each role's session, on the API each token scope too, and the
    platform operator (a superuser of no company). The admin site lets in staff only, and only
    company admins are staff (``test_only_company_admins_are_staff``): there a member stands for
    every other role."""
    if surface == "admin":
        return ["admin", "member", "operator"]
    names = [*ROLES, "operator"]
    if surface == "api":
        names += [f"token:{'+'.join(scopes)}" for scopes in TOKEN_SCOPES]
    return names


def client_of(world: World, principal: str, side: Side | None = None) -> Client:
    side = side or world.a
    if principal.startswith("token:"):
        secret = side.tokens[tuple(principal.removeprefix("token:").split("+"))]
        return Client(headers={"authorization": f"Bearer {secret}"})
    client = Client()
    client.force_login(world.operator if principal == "operator" else side.people[principal].user)
    return client


# --- B's rows, before and after -----------------------------------------------------------------------


# Written when B's own people and tokens are used (B asks first, to warm caches): not a change.
SIGN_OF_USE = {"orgs.user": {"last_login"}, "orgs.apitoken": {"last_used_at"}}


def _values(queryset) -> list[dict]:
    model = queryset.model
    ignored = SIGN_OF_USE.get(model._meta.label_lower, set())
    return list(
        queryset.order_by("pk").values(
            *[f.attname for f in model._meta.concrete_fields if f.name not in ignored]
        )
    )


def snapshot(company: Company) -> dict[str, list]:
    """Every row of ``company`` (its company-owned rows, its people's sign-ins, itself)."""
    rows = {
        "orgs.company": _values(Company.objects.filter(pk=company.pk)),
        "orgs.user": _values(User.objects.filter(company=company)),
    }
    with company_context(company.id):
        for model in apps.get_models():
            if issubclass(model, CompanyScopedModel):
                rows[model._meta.label_lower] = _values(model.objects.all())
    return rows


def changes(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return [f"{label}: rows changed" for label in before if before[label] != after[label]]


def unchanged(world: "World", principal: str) -> list[str]:
    """B's rows against the world as built: what A's writes changed of them."""
    return [f"as {principal}: {change}" for change in changes(world.b_rows, snapshot(world.b.company))]


# --- Reading responses ----------------------------------------------------------------------------------


def text_of(response) -> str:
    """What a person would read in the response: a page, JSON, a csv, or an xlsx's cells."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content[:2] == b"PK":
        try:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        except (zipfile.BadZipFile, OSError, KeyError):
            return content.decode("latin-1")
        return "\n".join(
            " ".join("" if cell is None else str(cell) for cell in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return content.decode("utf-8", errors="replace")


def shown(response, markers: list[str], echoed: list[str] = ()) -> list[str]:
    """Which of B's markers the response shows (what the request itself said aside)."""
    text = text_of(response).lower()
    for value in echoed:
        text = text.replace(value.lower(), "")
    return [marker for marker in markers if marker.lower() in text]


def answer(response, ids: tuple[int, ...]) -> tuple:
    """A response reduced to what must not depend on whether an id exists: the status, where it
    redirects, and for JSON the errors (codes and fields; messages with the id taken out)."""
    location = _without_ids(unquote(response.get("Location", "")), ids)
    body = None
    if response.get("Content-Type", "").startswith("application/json") and not response.streaming:
        data = json.loads(response.content or b"null")
        if isinstance(data, dict) and "errors" in data:
            body = [
                (e.get("code"), e.get("field"), _without_ids(e.get("message", ""), ids), e.get("index"))
                for e in data["errors"]
            ]
        else:
            body = data
    return response.status_code, location, body


def _without_ids(message: str, ids: tuple) -> str:
    """The message with the ids (or names) the request gave taken out: they are its own words."""
    for pk in ids:
        message = re.sub(rf"\b{re.escape(str(pk))}\b", "<id>", message)
    return message


# --- The checks -----------------------------------------------------------------------------------------


def url_for(route: Route, values: dict) -> str:
    path = route.route
    for kwarg in route.kwargs:
        path = re.sub(rf"<(?:\w+:)?{kwarg}>|\(\?P<{kwarg}>[^)]*\)", str(values[kwarg]), path)
    return "/" + path


def value_kwargs(route: Route) -> dict:
    return {kwarg: VALUE_KWARGS[kwarg][0] for kwarg in route.kwargs if kwarg in VALUE_KWARGS}


def ids_of(route: Route, side: Side) -> dict:
    return {kwarg: side.object_of(route.model_of(kwarg)) for kwarg in route.object_kwargs}


def request(client: Client, method: str, url: str, surface: str):
    if surface == "api":
        data = None if method == "delete" else {}
        return getattr(client, method)(url, data, content_type="application/json")
    # admin and pages: a form post, confirmed ("post": the admin's delete confirmation)
    data = {"post": "yes"} if method == "post" else None
    return getattr(client, method)(url, data) if data else getattr(client, method)(url)


def _refused(response, surface: str) -> bool:
    """Another company's object is refused: on the API 404 in API.md's shape (or 403, 405 where
    the role, the scope or the method is refused whatever the id); elsewhere 403, 404, 405 or a
    redirect (the admin's "does not exist" message, or a sign-in page)."""
    if surface != "api":
        return response.status_code in (302, 403, 404, 405)
    if response.status_code not in (403, 404, 405):
        return False
    codes = [error["code"] for error in response.json()["errors"]]
    return response.status_code != 404 or codes == ["not_found"]


def check_object_route(route: Route, principal: str, world: World) -> list[str]:
    """Company A's ``principal`` asks for B's object on every method: each answer must equal the
    answer for an id that exists nowhere, show none of B's data, and leave B's rows unchanged."""
    problems = []
    theirs = {**value_kwargs(route), **ids_of(route, world.b)}
    missing = {**value_kwargs(route), **dict.fromkeys(route.object_kwargs, MISSING_ID)}
    ids = (*(theirs[k] for k in route.object_kwargs), MISSING_ID)
    # A global row (a company, a sign-in lockout) is nobody's secret: A only must not reach it.
    global_row = (
        route.model_admin is not None and route.model_admin.model._meta.label_lower in GLOBAL_ADMIN_MODELS
    )
    client = client_of(world, principal)
    for method in route.methods():
        got = request(client, method, url_for(route, theirs), route.surface)
        expected = request(client, method, url_for(route, missing), route.surface)
        where = f"{method.upper()} {url_for(route, theirs)} as {principal}"
        if got.status_code >= 500:
            problems.append(f"{where}: {got.status_code}")
        elif global_row:
            if got.status_code < 300:
                problems.append(f"{where}: {got.status_code}, a global row reached by a company's person")
        elif answer(got, ids) != answer(expected, ids):
            problems.append(
                f"{where}: answers {answer(got, ids)}, but an id that does not exist {answer(expected, ids)}"
            )
        elif not global_row and not _refused(got, route.surface):
            problems.append(f"{where}: answers {answer(got, ids)}, which refuses nothing")
        if leaked := shown(got, world.markers):
            problems.append(f"{where}: shows B's data ({leaked})")
    return problems + unchanged(world, principal)


# --- Lists, filters, search, autocomplete, actions, exports -----------------------------------------
#
# A URL without an object id is asked as A with the values of B's objects wherever a query (or,
# on the API, a body) takes an id, and with values that exist nowhere: the answers must be the
# same, and none may show B's data. Before A asks, B asks the same URL: a page cached without the
# company in its key would then hand B's page to A.

NOWHERE = "no-such-thing-x9"

# Query parameters and body fields that take an id (or a name) of something: what B's is.
ID_FIELDS = {
    "department": lambda side: side.object_of(Department),
    "team": lambda side: side.object_of(Team),
    "user": lambda side: side.people["member"].pk,
    "owner": lambda side: side.people["member"].pk,
    "kpi": lambda side: side.object_of(Kpi),
    "unit": lambda side: side.object_of(Unit),
    "managers": lambda side: [side.people["manager"].pk],
    "leads": lambda side: [side.people["lead"].pk],
    "members": lambda side: [side.people["member"].pk],
    # where a deleted unit's people go: a unit of the same kind (set by check_references)
    "move_to": lambda side, unit=Department: side.object_of(unit),
    "scope": lambda side: f"department:{side.object_of(Department)}",
    "audience": lambda side: {
        "departments": [side.object_of(Department)],
        "users": [side.people["member"].pk],
    },
}
# On the API, ``kpi`` and ``user`` in an action are an integration name and an e-mail.
STRING_ID_FIELDS = {
    "kpi": lambda side: f"{side.tag}_revenue",
    "user": lambda side: side.people["member"].user.email,
    "scope": lambda side: f"team:{side.object_of(Team)}",
}
# ... and those that take no id, so a new parameter is a decision, not an accident.
NOT_ID_FIELDS = {
    "decimals",  # a unit's decimals shown: 0, 1 or 2
    "cursor",
    "limit",
    "offset",
    "from",
    "to",
    "date",
    "period",
    "start",
    "source",
    "kind",
    "level",
    "status",
    "archived",
    "name",
    "description",
    "integration_name",
    "in_rating",
    "rating_units",
    "rating_points",
    "direction",
    "category",
    "timing",
    "measure",
    "perspective",
    "email",
    "first_name",
    "last_name",
    "external_id",
    "language",
    "role",
    "is_active",
    "value",
    "values",
    "occurred_at",
    "comment",
    "reason",
    "into",
    "method",
    "file",
    "dry_run",
    "by",
    # K11: how values combine and the bands name nothing; a formula names KPIs by integration
    # name, resolved among the company's own KPIs only (kpis.services._check_formula_names, and
    # kpis/tests/test_k11_definitions.py: another company's KPI is an unknown name).
    "aggregation",
    "thresholds",
    "formula",
    "self_reporting",  # the company's setting (issue 17): a flag of the caller's own company
    # The company's other settings (O7): values of the caller's own company, no ids.
    "time_zone",
    "languages",
    "default_language",
    "primary_frequency",
    "secondary_frequency",
    "units_define_kpis",
    "report_frequency",
    "report_hour",
    # An integration source (issue 20): its mapping names a KPI by integration name and people by
    # e-mail, resolved when a run records, among the company's own only (integrations/tests/
    # test_sources.py: another company's person is "no such person", nothing recorded).
    "settings",
    "credentials",
    "mapping",
    "schedule",
    "enabled",
}
# What the pages read from the query that names an object, and which pages (by URL name) read it.
PAGE_QUERY = {"kpi": ("dashboard-", "profile", "kpi-page"), "scope": ("leaderboard", "kpi-page")}


def _missing_like(value):
    if isinstance(value, list):
        return [MISSING_ID for _ in value]
    if isinstance(value, dict):
        return {key: _missing_like(each) for key, each in value.items()}
    if isinstance(value, int):
        return MISSING_ID
    return re.sub(r"\d+$", str(MISSING_ID), value) if ":" in value else NOWHERE


def id_values(route: Route, name: str, side: Side, *, kind: str | None = None) -> list:
    """The values of B's objects a query parameter or body field ``name`` takes."""
    if name in NOT_ID_FIELDS:
        return []
    if name not in ID_FIELDS:
        raise Unregistered(
            f"{route.route!r} takes {name!r} (query or body), which the isolation matrix does not know. "
            f"Register it in kpi_platform/tests/isolation.py: in ID_FIELDS with what B's value is, or "
            f"in NOT_ID_FIELDS if it names nothing."
        )
    if name == "move_to":
        values = [ID_FIELDS[name](side, Team if route.route.startswith("api/v1/teams/") else Department)]
    else:
        values = [ID_FIELDS[name](side)]
    if name in STRING_ID_FIELDS and kind in (None, "string"):
        values.append(STRING_ID_FIELDS[name](side))
    return values


def _numbers(value) -> list[int]:
    if isinstance(value, dict):
        return [n for each in value.values() for n in _numbers(each)]
    if isinstance(value, list):
        return [n for each in value for n in _numbers(each)]
    if isinstance(value, int):
        return [value]
    return [int(n) for n in re.findall(r"\d+$", value)]


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for each in value.values() for s in _strings(each)]
    if isinstance(value, list):
        return [s for each in value for s in _strings(each)]
    return [value] if isinstance(value, str) else []


def api_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def schema_path(route: Route) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.route)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def operation_fields(schema: dict, route: Route, method: str) -> tuple[dict, dict]:
    """A schema operation's query parameters and body fields: name → JSON type."""
    operation = schema["paths"].get(schema_path(route), {}).get(method, {})
    query = {
        p["name"]: p.get("schema", {}).get("type")
        for p in operation.get("parameters", [])
        if p["in"] == "query"
    }
    body = {}
    for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
        if content_type == "application/json":
            node = _resolve(schema, content["schema"])
            node = _resolve(schema, node["oneOf"][0]) if "oneOf" in node else node
            body = {
                name: _resolve(schema, each).get("type") for name, each in node.get("properties", {}).items()
            }
    return query, body


def reference_cases(route: Route, method: str, world: World, schema: dict) -> list[tuple[str, dict, dict]]:
    """(what, B's values, values that exist nowhere) for each id a request of ``route`` takes in
    its query or its body."""
    if route.surface == "api":
        query, body = operation_fields(schema, route, method)
        places = [("query", name, kind) for name, kind in query.items()]
        places += [("body", name, kind) for name, kind in body.items()]
    elif route.surface == "pages" and method == "get":
        name = route.name or ""
        places = [("query", param, None) for param, pages in PAGE_QUERY.items() if name.startswith(pages)]
    else:
        return []
    cases = []
    for place, name, kind in places:
        for value in id_values(route, name, world.b, kind=kind):
            cases.append(
                (f"{place} {name}={value!r}", {place: {name: value}}, {place: {name: _missing_like(value)}})
            )
    return cases


def _send(client: Client, route: Route, method: str, url: str, parts: dict):
    query, body = parts.get("query", {}), parts.get("body")
    if query:
        url = f"{url}?{urlencode(query, doseq=True)}"
    if route.surface == "api":
        return getattr(client, method)(
            url, body if method != "delete" else None, content_type="application/json"
        )
    return getattr(client, method)(url, {"post": "yes"}) if method == "post" else getattr(client, method)(url)


def check_references(route: Route, principal: str, world: World, schema: dict) -> list[str]:
    """Company A's ``principal`` uses ``route`` (with A's own objects in the path, if any) giving
    B's ids in every query parameter and body field that takes one: each answer must equal the
    answer for ids that exist nowhere, and none may show B's data. A URL without an id is asked
    by B first, then by A: a cache that forgets the company would show up here."""
    problems = []
    path = url_for(route, {**value_kwargs(route), **ids_of(route, world.a)})
    client = client_of(world, principal)
    wrote = False
    if "get" in route.methods():
        if not route.object_kwargs and principal != "operator":
            client_of(world, principal, world.b).get(path)  # B's page first, into any cache
        got = client.get(path)
        if got.status_code >= 500:
            problems.append(f"GET {path} as {principal}: {got.status_code}")
        if leaked := shown(got, world.markers):
            problems.append(f"GET {path} as {principal}: shows B's data ({leaked})")
    for method in route.methods():
        for what, theirs, missing in reference_cases(route, method, world, schema):
            ids = (*_numbers(theirs), MISSING_ID, *_strings(theirs), NOWHERE)
            wrote = wrote or method != "get"
            got = _send(client, route, method, path, theirs)
            expected = _send(client, route, method, path, missing)
            where = f"{method.upper()} {path} with {what} as {principal}"
            echoed = [str(v) for part in theirs.values() for v in part.values()]
            if got.status_code >= 500:
                problems.append(f"{where}: {got.status_code}")
            elif answer(got, ids) != answer(expected, ids):
                problems.append(
                    f"{where}: answers {answer(got, ids)}, but ids that exist nowhere {answer(expected, ids)}"
                )
            if leaked := shown(got, world.markers, echoed=echoed):
                problems.append(f"{where}: shows B's data ({leaked})")
    return problems + (unchanged(world, principal) if wrote else [])


# --- The admin's lists: search, filters, actions, exports, autocomplete ----------------------------

# Custom list filters of the admin whose parameter is no field: the model whose id each takes.
ADMIN_FILTER_PARAMS = {
    "manages": Department,  # people by the department they manage
    "status": None,  # an API token's state
    "archived": None,
    "voided": None,
    "locked_out": None,  # django-axes, superusers only
}


def admin_answer(response, ids: tuple) -> tuple:
    """An admin response reduced like ``answer``, with how many rows a list shows and what a
    download holds."""
    context = response.context or {}
    changelist = context.get("cl") if hasattr(context, "get") else None
    content_type = response.get("Content-Type", "")
    download = "" if content_type.startswith("text/html") else _without_ids(text_of(response), ids)
    return (*answer(response, ids), getattr(changelist, "result_count", None), download)


def _admin_request(world: World, path: str = "/admin/"):
    from django.test import RequestFactory

    request = RequestFactory().get(path)
    request.user = world.a.people["admin"].user
    return request


def _filter_params(model_admin, world: World) -> list[str]:
    with company_context(world.a.company.id):
        changelist = model_admin.get_changelist_instance(_admin_request(world))
        return [param for spec in changelist.filter_specs for param in spec.expected_parameters()]


def _filter_model(route: Route, model, param: str):
    name = param.split("__")[0]
    if name in ADMIN_FILTER_PARAMS:
        return ADMIN_FILTER_PARAMS[name]
    try:
        field = model._meta.get_field(name)
    except Exception:
        raise Unregistered(
            f"The admin list {route.route!r} filters by {param!r}, which the isolation matrix does not "
            f"know. Register it in ADMIN_FILTER_PARAMS (kpi_platform/tests/isolation.py) with the model "
            f"whose id it takes, or None."
        ) from None
    # the related row's own id (``team__id__exact``), not one of its fields (``user__is_active``)
    if not field.is_relation or param[len(name) :] not in ("", "__exact", "__id__exact", "__pk__exact"):
        return None
    return field.related_model


def admin_cases(route: Route, world: World, principal: str) -> list[tuple[str, str, dict, dict]]:
    """(method, what, B's values, values that exist nowhere) for an admin URL without an id."""
    cases = [("get", "search", {"q": world.b.tag}, {"q": NOWHERE})]
    model_admin = route.model_admin
    name = route.name or ""
    if name in LINK_DIALOG_URLS:
        cases += _link_dialog_cases(name, world)
    if model_admin is None or not issubclass(model_admin.model, CompanyScopedModel):
        if name == "autocomplete":
            cases += _autocomplete_cases(world, principal)
        return cases
    model = model_admin.model
    theirs, missing = world.b.object_of(model), MISSING_ID
    if name.endswith("_changelist"):
        for param in _filter_params(model_admin, world):
            related = _filter_model(route, model, param)
            if related is not None:
                cases.append(
                    ("get", f"filter {param}", {param: world.b.object_of(related)}, {param: missing})
                )
        with company_context(world.a.company.id):
            actions = list(model_admin.get_actions(_admin_request(world)))
        for action in actions:
            selected = {"action": action, "index": "0", "post": "yes"}
            cases.append(
                (
                    "post",
                    f"action {action}",
                    {**selected, "_selected_action": [theirs]},
                    {**selected, "_selected_action": [missing]},
                )
            )
    if name.endswith("_export"):
        chosen = {"format": "0", "resource": "0"}
        cases.append(
            ("post", "export", {**chosen, "export_items": [theirs]}, {**chosen, "export_items": [missing]})
        )
    return cases


# The KPI form's link dialog (K7): it searches each section by name or id, and judges a chosen
# target's audience against the KPI, department and team the form shows.
LINK_DIALOG_URLS = ("kpis_kpi_search", "kpis_kpi_link_audience")
LINK_TARGETS = {
    "kpis": lambda side: side.object_of(Kpi),
    "dashboards/company": lambda side: side.company.pk,
    "dashboards/departments": lambda side: side.object_of(Department),
    "dashboards/teams": lambda side: side.object_of(Team),
    "people": lambda side: side.people["member"].pk,
    "leaderboard/company": lambda side: side.company.pk,
    "leaderboard/departments": lambda side: side.object_of(Department),
    "leaderboard/teams": lambda side: side.object_of(Team),
}


def _link_dialog_cases(name: str, world: World) -> list[tuple[str, str, dict, dict]]:
    cases = []
    for section, theirs_of in LINK_TARGETS.items():
        theirs = theirs_of(world.b)
        if name == "kpis_kpi_search":
            # By name only: an id is also a substring of A's names ("kpi_3"); by B's ids in
            # kpis/tests/test_links.py.
            cases.append(
                (
                    "get",
                    f"search {section}",
                    {"section": section, "q": world.b.tag},
                    {"section": section, "q": NOWHERE},
                )
            )
        else:
            cases.append(
                (
                    "get",
                    f"link to {section}",
                    {"section": section, "id": theirs},
                    {"section": section, "id": MISSING_ID},
                )
            )
    if name == "kpis_kpi_link_audience":
        ours = {"section": "leaderboard/company", "id": world.a.company.pk}
        for level, unit in (("department", Department), ("team", Team)):
            cases.append(
                (
                    "get",
                    f"audience of B's KPI and {level}",
                    {**ours, "kpi": world.b.object_of(Kpi), "level": level, level: world.b.object_of(unit)},
                    {**ours, "kpi": MISSING_ID, "level": level, level: MISSING_ID},
                )
            )
    return cases


def _autocomplete_cases(world: World, principal: str) -> list[tuple[str, str, dict, dict]]:
    """Every relation of every admin's model whose other end an admin searches: what the
    admin's autocomplete widgets ask. (A platform operator searches companies: global rows.)"""
    cases = []
    for model in admin.site._registry:
        for relation in model._meta.get_fields():
            remote = admin.site._registry.get(relation.related_model) if relation.is_relation else None
            if remote is None or not relation.concrete or not remote.get_search_fields(_admin_request(world)):
                continue
            if principal == "operator" and relation.related_model._meta.label_lower in GLOBAL_ADMIN_MODELS:
                continue
            asked = {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": relation.name,
            }
            cases.append(
                (
                    "get",
                    f"autocomplete {model._meta.label}.{relation.name}",
                    {**asked, "term": world.b.tag},
                    {**asked, "term": NOWHERE},
                )
            )
            cases.append(
                (
                    "get",
                    f"autocomplete {model._meta.label}.{relation.name}",
                    {**asked, "term": ""},
                    {**asked, "term": ""},
                )
            )
    return cases


def check_admin_list(route: Route, principal: str, world: World) -> list[str]:
    """Company A's ``principal`` on an admin URL without an id (after B's admin opened it): the
    page shows none of B's data, and searching, filtering, acting and exporting with B's names and
    ids answers exactly as with ones that exist nowhere, and changes none of B's rows."""
    problems = []
    path = url_for(route, value_kwargs(route))
    client = client_of(world, principal)
    if principal == "admin":  # the only one let in: B's admin opens the page first, into any cache
        client_of(world, "admin", world.b).get(path)
    got = client.get(path)
    if got.status_code >= 500:
        problems.append(f"GET {path} as {principal}: {got.status_code}")
    if leaked := shown(got, world.markers):
        problems.append(f"GET {path} as {principal}: shows B's data ({leaked})")
    cases = admin_cases(route, world, principal)
    for method, what, theirs, missing in cases:
        ids = (*_numbers(theirs), MISSING_ID, world.b.tag, NOWHERE)
        got = getattr(client, method)(path, theirs)
        expected = getattr(client, method)(path, missing)
        where = f"{method.upper()} {path} ({what}) as {principal}"
        if got.status_code >= 500:
            problems.append(f"{where}: {got.status_code}")
        elif admin_answer(got, ids) != admin_answer(expected, ids):
            problems.append(
                f"{where}: answers {admin_answer(got, ids)}, "
                f"but ones that exist nowhere {admin_answer(expected, ids)}"
            )
        if leaked := shown(
            got, world.markers, echoed=[world.b.tag] if "term" in theirs or "q" in theirs else []
        ):
            problems.append(f"{where}: shows B's data ({leaked})")
    wrote = any(method != "get" for method, *_rest in cases)
    return problems + (unchanged(world, principal) if wrote else [])
