"""The second wall (PostgreSQL only): an application role and row-level security.

* Migrations run as the role ``DATABASE_URL`` names (the tables' owner); ``orgs``' ``migrate``
  command marks them so. Every other connection switches with ``SET ROLE`` to
  ``settings.DATABASE_APP_ROLE``: not superuser, not ``BYPASSRLS``, owner of nothing.
* Every company-owned table has RLS enabled and forced, with one policy comparing ``company_id``
  to ``current_setting('app.company_id')``; ``post_migrate`` keeps every table in line, so a new
  model cannot be forgotten.
* The setting is transaction-local. An execute wrapper sets it before the first statement of
  every transaction run in a company context (in autocommit, around the single statement), and
  ``company_context`` resets it when the context changes inside an open transaction.

On SQLite none of this exists and the ORM scoping is the only wall.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from psycopg import sql
from psycopg.pq import TransactionStatus

POLICY_NAME = "company_isolation"
COMPANY_SETTING = "app.company_id"
NO_DB_ALIAS = "__no_db__"  # Django's connection to the maintenance database (test DB creation)

_as_owner = {"active": False}


def is_postgresql(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


def company_owned_tables() -> list[str]:
    from orgs.tenancy import CompanyScopedModel

    return sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if issubclass(model, CompanyScopedModel) and model._meta.managed and not model._meta.proxy
    )


# --- Who the connection is ----------------------------------------------------------------------


@contextmanager
def running_as_owner() -> Iterator[None]:
    """Run migrations as the tables' owner instead of the application role."""
    _as_owner["active"] = True
    for connection in connections.all(initialized_only=True):
        if is_postgresql(connection) and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
    try:
        yield
    finally:
        _as_owner["active"] = False
        # Reconnect lazily as the application role.
        for connection in connections.all(initialized_only=True):
            if is_postgresql(connection):
                connection.close()


def on_connection_created(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    if not is_postgresql(connection) or connection.alias == NO_DB_ALIAS:
        return
    if _company_setting_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_company_setting_wrapper)
    if _as_owner["active"]:
        return
    raw = connection.connection
    exists = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.DATABASE_APP_ROLE]).fetchone()
    if exists is None:
        raise RuntimeError(
            f"The database role {settings.DATABASE_APP_ROLE!r} does not exist: run `manage.py migrate` first."
        )
    raw.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(settings.DATABASE_APP_ROLE)))
    if not raw.autocommit:
        raw.commit()


# --- The company setting ------------------------------------------------------------------------


def _set_company(raw, company_id: int | None) -> None:
    raw.execute(
        "SELECT set_config(%s, %s, true)", [COMPANY_SETTING, "" if company_id is None else str(company_id)]
    )


def _company_setting_wrapper(execute, sql_text, params, many, context):
    from orgs.tenancy import current_company_id_or_none

    company_id = current_company_id_or_none()
    raw = context["connection"].connection
    if company_id is None or raw.info.transaction_status != TransactionStatus.IDLE:
        # No company: the setting stays empty and policies show no company-owned row.
        # In a transaction: the setting was applied when it began or when the context changed.
        return execute(sql_text, params, many, context)
    if raw.autocommit:
        # A statement outside any transaction: give it one, so SET LOCAL covers it.
        with raw.transaction():
            _set_company(raw, company_id)
            return execute(sql_text, params, many, context)
    _set_company(raw, company_id)  # opens the transaction Django is about to use
    return execute(sql_text, params, many, context)


def sync_company_setting(company_id: int | None) -> None:
    """The company context changed: apply it to every transaction already open."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if (
            is_postgresql(connection)
            and raw is not None
            and not raw.closed
            and raw.info.transaction_status == TransactionStatus.INTRANS
        ):
            _set_company(raw, company_id)


# --- Schema: role, grants, policies (run as the owner) -----------------------------------------


def ensure_app_role(cursor: CursorWrapper) -> None:
    role = sql.Identifier(settings.DATABASE_APP_ROLE)
    cursor.execute(
        sql.SQL(
            """
            DO $$ BEGIN
                CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
            EXCEPTION WHEN duplicate_object THEN NULL;
            END $$
            """
        ).format(role=role)
    )
    # The owner must be able to SET ROLE to it (a superuser can anyway).
    cursor.execute(sql.SQL("GRANT {role} TO CURRENT_USER").format(role=role))


def ensure_grants_and_policies(connection: BaseDatabaseWrapper) -> None:
    role = sql.Identifier(settings.DATABASE_APP_ROLE)
    with connection.cursor() as cursor:
        ensure_app_role(cursor)
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {role}").format(role=role))
        cursor.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}").format(
                role=role
            )
        )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}").format(role=role)
        )
        for table in company_owned_tables():
            table_id = sql.Identifier(table)
            cursor.execute(sql.SQL("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY").format(t=table_id))
            cursor.execute(sql.SQL("ALTER TABLE {t} FORCE ROW LEVEL SECURITY").format(t=table_id))
            cursor.execute(
                sql.SQL("DROP POLICY IF EXISTS {p} ON {t}").format(p=sql.Identifier(POLICY_NAME), t=table_id)
            )
            cursor.execute(
                sql.SQL(
                    "CREATE POLICY {p} ON {t} "
                    "USING (company_id = NULLIF(current_setting({s}, true), '')::bigint) "
                    "WITH CHECK (company_id = NULLIF(current_setting({s}, true), '')::bigint)"
                ).format(p=sql.Identifier(POLICY_NAME), t=table_id, s=sql.Literal(COMPANY_SETTING))
            )


def on_post_migrate(sender, using: str = "default", **kwargs) -> None:
    connection = connections[using]
    # `flush` sends post_migrate too, as the application role: only `migrate` (the owner) applies.
    if is_postgresql(connection) and sender.name == "orgs" and _as_owner["active"]:
        ensure_grants_and_policies(connection)
