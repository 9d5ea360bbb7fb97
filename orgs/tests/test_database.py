"""The second wall on PostgreSQL (PRODUCT O2, X4): row-level security and the application role."""

import pytest
from django.conf import settings
from django.db import ProgrammingError, connection, transaction

from orgs.database import company_owned_tables
from orgs.models import Department
from orgs.tenancy import company_context
from orgs.tests.factories import DepartmentFactory

pytestmark = pytest.mark.postgres


def _names(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return sorted(row[0] for row in cursor.fetchall())


@pytest.fixture
def two_departments(company, other_company):
    with company_context(company.id):
        DepartmentFactory(name="Acme sales")
    with company_context(other_company.id):
        DepartmentFactory(name="Globex sales")


def test_raw_select_without_company_filter_sees_only_the_context_company(
    company, other_company, two_departments
):
    # when a raw SELECT with no WHERE runs in company A's context
    with company_context(company.id):
        names = _names("SELECT name FROM orgs_department")
    # then the database itself returns only A's rows
    assert names == ["Acme sales"]
    with company_context(other_company.id):
        assert _names("SELECT name FROM orgs_department") == ["Globex sales"]


def test_raw_select_outside_any_company_sees_no_company_row(two_departments):
    assert _names("SELECT name FROM orgs_department") == []


@pytest.mark.django_db(transaction=True)
def test_raw_select_in_autocommit_mode_is_scoped_too(company, other_company, two_departments):
    # given no transaction is open (scripts and template rendering may query like this)
    assert connection.get_autocommit()
    # when single statements run in each company's context
    with company_context(company.id):
        mine = _names("SELECT name FROM orgs_department")
    with company_context(other_company.id):
        theirs = _names("SELECT name FROM orgs_department")
    # then each got its own transaction with the company set
    assert (mine, theirs) == (["Acme sales"], ["Globex sales"])
    assert _names("SELECT name FROM orgs_department") == []


def test_switching_company_inside_a_transaction_reapplies_the_setting(
    company, other_company, two_departments
):
    with company_context(company.id):
        first = _names("SELECT name FROM orgs_department")
        with company_context(other_company.id):
            nested = _names("SELECT name FROM orgs_department")
        after = _names("SELECT name FROM orgs_department")
    assert (first, nested, after) == (["Acme sales"], ["Globex sales"], ["Acme sales"])


INSERT_DEPARTMENT = (
    "INSERT INTO orgs_department (name, company_id, created_at, updated_at) VALUES ('x', %s, now(), now())"
)


def test_raw_insert_of_another_companys_row_is_refused(company, other_company):
    with (
        company_context(company.id),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),  # rolled back to its savepoint, so the test's transaction goes on
        connection.cursor() as cursor,
    ):
        cursor.execute(INSERT_DEPARTMENT, [other_company.id])


def test_raw_update_cannot_reach_another_companys_rows(company, other_company, two_departments):
    with company_context(company.id), connection.cursor() as cursor:
        cursor.execute("UPDATE orgs_department SET name = 'renamed'")
        assert cursor.rowcount == 1
    with company_context(other_company.id):
        assert list(Department.objects.values_list("name", flat=True)) == ["Globex sales"]


def test_application_role_is_not_superuser_not_bypassrls_and_owns_no_table(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (current_user,) = cursor.fetchone()
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        is_super, bypasses_rls = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        (owned_tables,) = cursor.fetchone()
    assert current_user == settings.DATABASE_APP_ROLE
    assert (is_super, bypasses_rls, owned_tables) == (False, False, 0)


def test_every_company_table_has_forced_row_level_security_and_the_policy(db):
    tables = company_owned_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policies p
                           WHERE p.tablename = c.relname AND p.policyname = 'company_isolation')
            FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'
            """,
            [tables],
        )
        rows = {name: (enabled, forced, policy) for name, enabled, forced, policy in cursor.fetchall()}
    assert set(rows) == set(tables)
    assert all(flags == (True, True, True) for flags in rows.values()), rows
