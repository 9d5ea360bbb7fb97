"""The second wall, proven (issue 8 item 2; PRODUCT O2): PostgreSQL's row-level security.

* Every table with a ``company_id`` column, read from the catalog (so a table nobody declared is
  found too), has row-level security enabled and forced, with the company policy.
* With the policies gone, the isolation check fails: the wall is what keeps the rows apart.
* 10,000 interleaved requests of two companies (and of nobody) over a few reused connections
  never see a row of another company: the transaction-local company setting never leaks.
"""

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.conf import settings
from django.db import connection, connections
from django.urls import include, path
from psycopg import sql
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from kpi_platform.tests.company_data import populate
from orgs.database import COMPANY_SETTING, POLICY_NAME, company_owned_tables
from orgs.services import api_token_create, department_create
from orgs.tenancy import company_context

pytestmark = pytest.mark.postgres

# Tables with a company column that are deliberately not company-scoped, each with its reason.
NOT_COMPANY_SCOPED = {
    "orgs_user": "sign-in finds the user by e-mail before any company is known (orgs.models.User)",
}


def _rows(query, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def tables_with_a_company_column() -> set[str]:
    rows = _rows(
        """
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.column_name = 'company_id' AND c.table_schema = current_schema()
          AND t.table_type = 'BASE TABLE'
        """
    )
    return {name for (name,) in rows}


def test_every_table_with_a_company_column_has_forced_row_level_security_and_the_policy(db):
    tables = tables_with_a_company_column() - set(NOT_COMPANY_SCOPED)
    rows = _rows(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, p.cmd, p.qual, p.with_check
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
        LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname
                               AND p.policyname = %s
        WHERE c.relname = ANY(%s)
        """,
        [POLICY_NAME, sorted(tables)],
    )
    walls = {
        name: (enabled, forced, command, qual, check) for name, enabled, forced, command, qual, check in rows
    }
    assert set(walls) == tables
    for table, (enabled, forced, command, qual, check) in walls.items():
        assert (enabled, forced, command) == (True, True, "ALL"), table
        # both reading (USING) and writing (WITH CHECK) compare the row to the company setting
        assert f"company_id = (NULLIF(current_setting('{COMPANY_SETTING}'" in qual, (table, qual)
        assert f"company_id = (NULLIF(current_setting('{COMPANY_SETTING}'" in check, (table, check)
    # The catalog and the models agree: a table with a company column is a CompanyScopedModel's
    # (which post_migrate gives its policy) or is on the reasoned list above, nothing else.
    assert tables == set(company_owned_tables())
    assert set(NOT_COMPANY_SCOPED) <= tables_with_a_company_column()


# --- With the wall removed, the isolation check fails ----------------------------------------------


def rows_per_company(table: str) -> dict[int, int]:
    query = sql.SQL("SELECT company_id, count(*) FROM {} GROUP BY company_id").format(sql.Identifier(table))
    with connection.cursor() as cursor:
        cursor.execute(query)
        return dict(cursor.fetchall())


def isolation_failures(company_id: int, truth: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
    """What a raw ``SELECT`` with no ``WHERE`` shows in ``company_id``'s context, for every table
    where it is not exactly that company's rows (``truth`` is what each table really holds)."""
    failures = {}
    with company_context(company_id):
        for table, counts in truth.items():
            seen = rows_per_company(table)
            expected = {company_id: counts[company_id]} if company_id in counts else {}
            if seen != expected:
                failures[table] = seen
    return failures


def as_owner(statement: sql.Composable) -> None:
    """Run one statement as the tables' owner, in the test's transaction (rolled back after it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
        cursor.execute("SET LOCAL ROLE NONE")
        cursor.execute(statement)
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(settings.DATABASE_APP_ROLE)))


@pytest.fixture
def two_populated_companies(company, other_company):
    populate(company, "acme")
    populate(other_company, "globex")
    with connection.cursor() as cursor:  # the truth, read by the owner (a superuser ignores the policies)
        cursor.execute("SET LOCAL ROLE NONE")
    truth = {table: rows_per_company(table) for table in company_owned_tables()}
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(settings.DATABASE_APP_ROLE)))
    shared = [t for t, counts in truth.items() if {company.id, other_company.id} <= set(counts)]
    assert len(shared) >= 15, f"too few tables hold rows of both companies to prove much: {shared}"
    return truth, shared


def test_with_the_policies_each_company_sees_exactly_its_own_rows(
    company, other_company, two_populated_companies
):
    truth, _shared = two_populated_companies
    assert isolation_failures(company.id, truth) == {}
    assert isolation_failures(other_company.id, truth) == {}


@pytest.mark.parametrize(
    "removal",
    [
        pytest.param("DROP POLICY {policy} ON {table}", id="policies-dropped"),
        pytest.param("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY", id="rls-disabled"),
    ],
)
def test_without_the_wall_the_isolation_check_fails_on_every_table(
    company, other_company, two_populated_companies, removal
):
    truth, shared = two_populated_companies
    for table in company_owned_tables():
        as_owner(sql.SQL(removal).format(policy=sql.Identifier(POLICY_NAME), table=sql.Identifier(table)))
    failures = isolation_failures(company.id, truth)
    # every table holding rows of both companies now shows the wrong rows: none at all when the
    # policy is dropped (RLS without a policy shows nothing), or the other company's too when RLS is off
    assert set(shared) <= set(failures)
    if "DROP POLICY" in removal:
        assert all(seen == {} for seen in failures.values())
    else:
        assert all(other_company.id in failures[table] for table in shared)


# --- 10,000 interleaved requests over a few reused connections -------------------------------------


class CompanyProbe(APIView):
    """What the database itself shows this request: a raw SELECT with no WHERE, and the setting."""

    permission_classes = [AllowAny]

    def get(self, request):
        rows = _rows(
            "SELECT pg_backend_pid(), current_setting(%s, true), array_agg(DISTINCT company_id) "
            "FROM orgs_department",
            [COMPANY_SETTING],
        )
        pid, setting, companies = rows[0]
        return Response({"pid": pid, "setting": setting, "companies": sorted(companies or [])})


urlpatterns = [path("probe/", CompanyProbe.as_view()), path("", include("kpi_platform.urls"))]

REQUESTS = 10_000
THREADS = 4  # the pool: each thread keeps its one connection (the test client never closes it)


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_ten_thousand_interleaved_requests_never_see_another_companys_rows(
    company, other_company, settings, monkeypatch
):
    # no rate limit for this test: 5,000 requests per token in a minute is the point here
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    # Connections kept for the whole test, as a pool's are: the test client unhooks
    # ``close_old_connections`` around each request, but the hook is one global signal receiver,
    # so with four threads one thread's request can end while another has hooked it back, and with
    # CONN_MAX_AGE 0 that closes its connection (seen once under load: 5 connections for 4 threads).
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", None)
    names = {}
    tokens = {}
    for owner, count in ((company, 3), (other_company, 2)):
        with company_context(owner.id):
            names[owner.id] = sorted(department_create(name=f"{owner.slug} {n}").name for n in range(count))
            tokens[owner.id] = api_token_create(name="load", scopes=["read"]).secret
    plan = random.Random(8).choices([company.id, other_company.id, None], weights=[4, 4, 1], k=REQUESTS)
    wrong: list = []
    served = defaultdict(Counter)  # connection (backend pid) → requests per company

    def worker(share: list) -> None:
        clients = {company_id: APIClient() for company_id in tokens}
        for company_id, client in clients.items():
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[company_id]}")
        anonymous = APIClient()
        try:
            for index, company_id in share:
                client = anonymous if company_id is None else clients[company_id]
                if company_id is not None and index // THREADS % 2:  # half through a real endpoint
                    response = client.get("/api/v1/departments/")
                    got = sorted(row["name"] for row in response.json()["results"])
                    if response.status_code != 200 or got != names[company_id]:
                        wrong.append((index, company_id, response.status_code, got))
                    continue
                body = client.get("/probe/").json()
                served[body["pid"]][company_id] += 1
                expected = [] if company_id is None else [company_id]
                # the setting is transaction-local: it is gone once the request's transaction ends
                setting = [None, ""] if company_id is None else [str(company_id)]
                if body["companies"] != expected or body["setting"] not in setting:
                    wrong.append((index, company_id, body))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(list(enumerate(plan))[n::THREADS],)) for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert wrong == []
    assert sum(sum(counts.values()) for counts in served.values()) > REQUESTS / 2
    # a small pool, each connection serving both companies and anonymous requests in turn
    assert len(served) == THREADS
    assert all(set(counts) == {company.id, other_company.id, None} for counts in served.values())
