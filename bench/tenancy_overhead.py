"""What the two tenancy walls cost per transaction and per row (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kpi_bench .venv/bin/python -m bench.tenancy_overhead

Creates (or reuses) the database, migrates it, loads 20 companies x 500 departments, then times
in one run:
  * reference: psycopg as the owner (no RLS, no wrapper), one short transaction per lookup;
  * ours: the same SQL through Django's cursor in company_context (SET ROLE, SET LOCAL, RLS
    policy), and the lookup as an ORM queryset (adds the ORM's own cost);
  * a scan of one company's 500 rows, both ways (the policy's per-row cost).
and prints each figure with its ratio to the reference.
"""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpi_platform.settings.base")
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("Set DATABASE_URL to a PostgreSQL database (it is created if missing).")

import django
import psycopg

COMPANIES, DEPARTMENTS = 20, 500
LOOKUPS, SCANS = 3000, 300


def _ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _load() -> list[tuple[int, list[int]]]:
    from orgs.models import Company, Department
    from orgs.tenancy import company_context

    data = []
    for n in range(COMPANIES):
        company, _ = Company.objects.get_or_create(
            slug=f"bench-{n}", defaults={"name": f"Bench {n}", "languages": ["en"]}
        )
        with company_context(company.id):
            if not Department.objects.exists():
                Department.objects.bulk_create(Department(name=f"Department {i}") for i in range(DEPARTMENTS))
            data.append((company.id, list(Department.objects.values_list("id", flat=True))))
    return data


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10.0f}/s"


def main() -> None:
    url = os.environ["DATABASE_URL"]
    _ensure_database(url)
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from orgs.models import Department
    from orgs.tenancy import company_context

    call_command("migrate", verbosity=0)
    data = _load()
    company_id, ids = data[len(data) // 2]

    # reference: the owner's connection, no RLS in the way, one transaction per lookup
    with psycopg.connect(url) as raw:
        started = time.perf_counter()
        for i in range(LOOKUPS):
            with raw.transaction():
                raw.execute(
                    "SELECT id, name FROM orgs_department WHERE company_id = %s AND id = %s",
                    [company_id, ids[i % len(ids)]],
                ).fetchone()
        reference_lookup = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(SCANS):
            with raw.transaction():
                sql = "SELECT id, name FROM orgs_department WHERE company_id = %s"
                raw.execute(sql, [company_id]).fetchall()
        reference_scan = time.perf_counter() - started

    with company_context(company_id):
        started = time.perf_counter()
        for i in range(LOOKUPS):
            with transaction.atomic():
                Department.objects.filter(id=ids[i % len(ids)]).values_list("id", "name").first()
        ours_lookup = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(LOOKUPS):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id, name FROM orgs_department WHERE id = %s", [ids[i % len(ids)]])
                cursor.fetchone()
        walls_lookup = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(SCANS):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id, name FROM orgs_department WHERE company_id = %s", [company_id])
                cursor.fetchall()
        ours_scan = time.perf_counter() - started

    print(f"tenancy overhead on PostgreSQL ({COMPANIES} companies x {DEPARTMENTS} departments)")
    print(f"  lookup by id, 1 transaction each   reference {_rate(LOOKUPS, reference_lookup)}")
    print(
        f"     same SQL, Django cursor + walls   ours      {_rate(LOOKUPS, walls_lookup)}"
        f"   ratio {walls_lookup / reference_lookup:.2f}x time"
    )
    print(
        f"     ORM queryset + walls              ours      {_rate(LOOKUPS, ours_lookup)}"
        f"   ratio {ours_lookup / reference_lookup:.2f}x time"
    )
    print(f"  scan of one company's {DEPARTMENTS} rows      reference {_rate(SCANS, reference_scan)}")
    print(
        f"                                     ours      {_rate(SCANS, ours_scan)}"
        f"   ratio {ours_scan / reference_scan:.2f}x time"
    )


if __name__ == "__main__":
    main()
