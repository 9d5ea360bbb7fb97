"""Fixtures every app's tests share: two companies, an organization, the company context, and the
isolation check."""

import contextlib
import datetime
import os
import shutil
import sys
from types import SimpleNamespace

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient

from orgs.models import Company, Role
from orgs.tenancy import company_context

TEST_PASSWORD = "pass-2026-word"


def pytest_collection_modifyitems(config, items):
    _skip_postgres_only(items)
    _browser_tests_last(items)


def _skip_postgres_only(items) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (the second run of .ci/run does)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """PostgreSQL only: grant TRUNCATE, which tests that commit (``transaction=True``) are cleaned
    with and the application role may not run in production, in the test database only; and at the
    end end the sessions a browser's last requests may have left open, so the database can be
    dropped."""
    from django.conf import settings
    from django.db import connection

    from orgs.database import running_as_owner

    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock(), running_as_owner(), connection.cursor() as cursor:
        cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{settings.DATABASE_APP_ROLE}"')
    yield
    with django_db_blocker.unblock(), running_as_owner(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def made_once(django_db_setup, django_db_blocker):
    """``with made_once(make) as made:`` in a class- or module-scoped fixture: ``make()``'s rows, made
    once for tests that only read them, in a transaction rolled back after the last of them (each
    test's own transaction, of ``db``, nests inside as a savepoint). Tests that write make their own."""

    @contextlib.contextmanager
    def made(make):
        with django_db_blocker.unblock():
            block = transaction.atomic()
            block.__enter__()
            try:
                result = make()
            except BaseException:
                block.__exit__(*sys.exc_info())
                raise
        try:
            yield result
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                block.__exit__(None, None, None)

    return made


@pytest.fixture(scope="session", autouse=True)
def _suite_clock():
    """``KPI_TEST_CLOCK=2027-01-01T00:30+03:00`` runs the whole suite from that moment on (the clock
    ticks on from it), so a test that passes or fails by the calendar shows itself: run the suite on
    the 1st, the 6th and the last day of a month and on the first days of a year (README, Tests)."""
    moment = os.environ.get("KPI_TEST_CLOCK")
    if not moment:
        yield None
        return
    with time_machine.travel(datetime.datetime.fromisoformat(moment), tick=True):
        yield moment


# The demo is built relative to "today", so tests that read its figures run on a fixed day: the last
# evening of a month, when every figure of the month is in (the demo's monthly percentages are
# recorded on a month's last day). On the 1st of a month the current month has no action yet.
DEMO_MOMENT = datetime.datetime(2026, 11, 30, 21, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=3)))


@pytest.fixture
def demo_clock(time_machine):
    """The clock at ``DEMO_MOMENT``, ticking on from it, for the rest of the test."""
    time_machine.move_to(DEMO_MOMENT, tick=True)
    return DEMO_MOMENT


@pytest.fixture
def company(db) -> Company:
    from orgs.services import company_create

    return company_create(slug="acme", name="Acme", languages=["en", "ru"], time_zone="Europe/Moscow")[0]


@pytest.fixture
def other_company(db) -> Company:
    from orgs.services import company_create

    return company_create(slug="globex", name="Globex", languages=["en"], time_zone="UTC")[0]


@pytest.fixture
def in_company(company):
    """Run the test inside ``company``'s context; the ``with`` resets it even when the test fails."""
    with company_context(company.id):
        yield company


@pytest.fixture
def in_company_of():
    """``with in_company_of(other_company): ...`` for rows of another company."""
    return company_context_of


def company_context_of(company: Company):
    return company_context(company.id)


def _member(company: Company, role: str = Role.MEMBER, **kwargs):
    from orgs.tests.factories import MemberFactory

    with company_context(company.id):
        return MemberFactory(role=role, **kwargs)


@pytest.fixture
def make_member():
    """``make_member(company, role=..., department=..., team=...)`` through the real service."""
    return _member


@pytest.fixture
def admin_member(company):
    return _member(company, Role.ADMIN, email="admin@acme.example")


@pytest.fixture
def other_admin_member(other_company):
    return _member(other_company, Role.ADMIN, email="admin@globex.example")


@pytest.fixture
def org(company, admin_member, make_member) -> SimpleNamespace:
    """Acme's organization, through the services: Sales (teams North, South) managed by `manager`;
    Support (team Care); North led by `lead`. `member` is in North, `seller` in South, `carer` in
    Care, `direct` in Sales without a team; `admin` is the company admin."""
    from orgs.services import department_create, department_update, team_create, team_update

    with company_context(company.id):
        sales, support = department_create(name="Sales"), department_create(name="Support")
        north = team_create(name="North", department=sales)
        south = team_create(name="South", department=sales)
        care = team_create(name="Care", department=support)
    people = {
        "admin": admin_member,
        "manager": make_member(company, department=sales),
        "lead": make_member(company, team=north),
        "member": make_member(company, team=north),
        "seller": make_member(company, team=south),
        "carer": make_member(company, team=care),
        "direct": make_member(company, department=sales),
    }
    with company_context(company.id):
        department_update(department=sales, managers=[people["manager"]])
        team_update(team=north, leads=[people["lead"]])
    return SimpleNamespace(
        company=company, sales=sales, support=support, north=north, south=south, care=care, **people
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """A session client signed in as ``member`` (as a browser would be)."""

    def make(member) -> APIClient:
        client = APIClient()
        client.force_login(member.user)
        return client

    return make


@pytest.fixture
def token_client():
    """An API client with a fresh token of ``company`` with ``scopes``."""

    def make(company: Company, scopes=("read", "org")) -> APIClient:
        from orgs.services import api_token_create

        with company_context(company.id):
            new = api_token_create(name="test", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.secret}")
        return client

    return make


@pytest.fixture
def assert_isolated():
    """Another company's object answers exactly like one that does not exist (API.md Basics)."""

    def check(response) -> None:
        assert response.status_code == 404, response.content
        assert response.json() == {
            "errors": [
                {
                    "code": "not_found",
                    "field": None,
                    "message": response.json()["errors"][0]["message"],
                    "index": None,
                }
            ]
        }

    return check


@pytest.fixture(autouse=True)
def _no_leaked_company_context():
    """A test must leave no company context behind (django-multitenant's tests leaked theirs)."""
    yield
    from orgs.tenancy import current_company_id_or_none

    assert current_company_id_or_none() is None, "a company context leaked out of the test"


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _browser_tests_last(items) -> None:
    """The tests with a browser run after all others, in their order: they share one chromium
    (``_browser``), and Playwright's event loop, running from the first of them to the end of the
    session, would make Django refuse the ORM in a test without a browser (SynchronousOnlyOperation)."""
    items.sort(key=lambda item: "browser_page" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def _browser():
    """Debian's chromium, driven by Playwright (its own browser download is not used), started once
    for the session: a launch costs about a second, a fresh context per test (``browser_page``) a
    quarter of that, with the same isolation (cookies, storage, viewport)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in the tests' thread; the tests' ORM calls are synchronous.
    allow = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if allow is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = allow


@pytest.fixture
def browser_page(_browser, live_server):
    """A page of its own browser context (no cookie or storage of another test) in the session's
    chromium."""
    context = _browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot(artifacts_dir):
    """``screenshot(page, "name")`` saves ``test-artifacts/name.png`` once the page has settled
    (a capture taken while a navigation is still under way can fail)."""

    def take(page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        page.screenshot(path=os.path.join(artifacts_dir, f"{name}.png"))

    return take


@pytest.fixture(scope="session")
def artifacts_dir():
    path = os.path.join(os.path.dirname(__file__), "test-artifacts")
    os.makedirs(path, exist_ok=True)
    return path
