"""Data for the ratings benchmarks: one company, N people, 20 KPIs, M actions over 12 months.

    .venv/bin/python -m bench.ratings_data [--people 100000] [--actions 10000000] [--seed 1]

(Re)creates the dedicated database ``kpi_bench_ratings`` (``BENCH_RATINGS_DATABASE_URL`` to
change it; the name must start with kpi_bench_ratings), migrates it, then:
  * the company, departments and teams through orgs.services (time zone Europe/Moscow);
  * the people: users and members with COPY (unusable passwords, no hashing);
  * 20 Active KPIs in the rating through kpis.services.kpi_create (various ratios, 4 at
    department level, whose actions go only to that department's people; an average, a
    highest value, a level and a count among them, K11) and a calculated one over two of them;
  * the actions with COPY straight into ratings_kpiaction, points computed as the service does
    (value x M / N, half-up, two decimals), ``day`` the local date; 0.5 % voided. As the owner,
    with the table's secondary indexes dropped during the COPY and rebuilt after, and foreign key
    triggers off (session_replication_role = replica): a loader's tricks, not the app's path;
  * the aggregates with ratings.services.aggregates_rebuild() as the application role in the
    company's context (the figure the issue's 5-minute goal is about);
  * VACUUM ANALYZE.
Prints each step's time.
"""

import argparse
import datetime
import random
import time
import zoneinfo

import psycopg

from bench._common import COMPANY_SLUG, TIME_ZONE, database_url, django_setup

DEPARTMENTS, TEAMS_PER_DEPARTMENT = 50, 10
CHUNK = 100_000
VOIDED_FRACTION = 0.005
# (integration name, rating units, rating points, value kind, department-level?)
KPIS = [
    ("calls", "1.00", 1, "count", False),
    ("meetings", "1.00", 5, "count", False),
    ("deals_closed", "1.00", 50, "count", False),
    ("revenue", "1000.00", 3, "money", False),
    ("tickets_solved", "3.00", 2, "count", False),
    ("reviews", "7.00", 3, "count", False),
    ("hours_trained", "0.50", 1, "hours", False),
    ("leads", "2.50", 4, "count", False),
    ("upsells", "100.00", 7, "money", False),
    ("referrals", "1.00", 20, "count", False),
    ("nps_points", "3.00", 1, "hours", False),
    ("bugs_fixed", "1.00", 3, "count", False),
    ("docs_written", "0.75", 2, "count", False),
    ("demos", "1.00", 8, "count", False),
    ("renewals", "250.00", 9, "money", False),
    ("surveys", "1.00", 1, "count", False),
    ("dept_audits", "1.00", 12, "count", True),
    ("dept_shipments", "10.00", 3, "count", True),
    ("dept_inspections", "1.50", 2, "hours", True),
    ("dept_repairs", "4.00", 5, "count", True),
]
# K11: how some KPIs' values combine (the rest are sums), so the dashboards' figures are measured
# with averages, a highest value and a level among them; and one calculated KPI over two others.
AGGREGATIONS = {"nps_points": "average", "upsells": "max", "renewals": "last", "demos": "count"}
CALCULATED = ("lead_conversion", "deals_closed / leads * 100")
KPI_WEIGHTS = [30, 8, 2, 6, 12, 5, 4, 6, 3, 1, 4, 6, 3, 3, 2, 5, 2, 3, 2, 2]
ACTION_COLUMNS = (
    "company_id, member_id, kpi_id, value, points, occurred_at, day, source, recorded_by_id, "
    "external_id, comment, voided_at, voided_by_id, void_reason, created_at, updated_at"
)


def recreate_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def fmt(value_cents: int) -> str:
    return f"{value_cents // 100}.{value_cents % 100:02d}"


def points_cents(value_cents: int, units_cents: int, rating_points: int) -> int:
    """R2 in integers: value x M / N in cents, half-up (everything is ≥ 0)."""
    return (2 * value_cents * rating_points * 100 + units_cents) // (2 * units_cents)


def create_org(people: int, rng: random.Random, url: str) -> tuple[int, list, dict]:
    """The company, units (services), people (COPY). Returns company id, member ids by
    department index, and member ids of everyone."""
    from orgs.services import company_create, department_create, team_create
    from orgs.tenancy import company_context

    company, _ = company_create(slug=COMPANY_SLUG, name="Bench Ratings", time_zone=TIME_ZONE)
    teams = []  # (department_id, team_id)
    with company_context(company.id):
        for d in range(DEPARTMENTS):
            department = department_create(name=f"Department {d:02d}")
            for t in range(TEAMS_PER_DEPARTMENT):
                team = team_create(name=f"Team {d:02d}-{t}", department=department)
                teams.append((d, department.id, team.id))

    now = datetime.datetime.now(datetime.UTC).isoformat()
    with psycopg.connect(url) as conn:  # the owner: a loader, not the app
        with conn.cursor().copy(
            "COPY orgs_user (password, is_superuser, email, first_name, last_name, language, company_id,"
            " is_active, is_staff, date_joined) FROM STDIN"
        ) as copy:
            for n in range(people):
                copy.write_row(
                    ("!", False, f"p{n}@bench.example", "Person", str(n), "", company.id, True, False, now)
                )
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM orgs_user WHERE company_id = %s AND email LIKE 'p%%@bench.example'"
                " ORDER BY id",
                [company.id],
            )
        ]
        by_department: dict[int, list[int]] = {}
        with conn.cursor().copy(
            "COPY orgs_member (user_id, company_id, role, department_id, team_id, external_id, created_at,"
            " updated_at) FROM STDIN"
        ) as copy:
            for n, user_id in enumerate(ids):
                d, department_id, team_id = teams[rng.randrange(len(teams))]
                by_department.setdefault(d, []).append(user_id)
                copy.write_row((user_id, company.id, "member", department_id, team_id, f"E{n}", now, now))
    return company, ids, by_department


def create_kpis(company) -> list:
    from kpis.services import kpi_create
    from orgs.models import Department
    from orgs.tenancy import company_context

    kpis = []
    with company_context(company.id):
        departments = list(Department.objects.order_by("name"))
        dept_index = 0
        for name, units, points, _kind, department_level in KPIS:
            fields = {
                "name": {"en": name.replace("_", " ").title()},
                "integration_name": name,
                "status": "active",
                "in_rating": True,
                "rating_units": units,
                "rating_points": points,
                "aggregation": AGGREGATIONS.get(name, "sum"),
            }
            if department_level:
                fields.update(level="department", department=departments[dept_index])
                dept_index += 1
            kpis.append(kpi_create(**fields))
        name, formula = CALCULATED
        kpi_create(
            name={"en": name.replace("_", " ").title()},
            integration_name=name,
            status="active",
            formula=formula,
        )
    return kpis


def value_sampler(kind: str, rng: random.Random):
    if kind == "count":
        return lambda: rng.randint(1, 20) * 100
    if kind == "hours":
        return lambda: rng.randint(1, 32) * 25  # quarter hours up to 8 h
    return lambda: rng.randint(1, 500_000)  # money: 0.01 .. 5,000.00


def copy_actions(url: str, company, kpis: list, people: list, by_department: dict, total: int, rng) -> float:
    """COPY ``total`` actions; returns the seconds spent generating and copying."""
    tz = zoneinfo.ZoneInfo(TIME_ZONE)
    today = datetime.datetime.now(tz).date()
    days = []  # (local date text, offset text) for each of the last 365 local days
    for back in range(365, 0, -1):
        day = today - datetime.timedelta(days=back - 1)
        offset = datetime.datetime.combine(day, datetime.time(12), tz).utcoffset()
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        days.append((day.isoformat(), f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"))
    clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
    # People are not equally busy: a weight from 1 to 10 each, so the leaderboard has a spread.
    activity = [rng.randint(1, 10) for _ in people]
    cumulative, running = [], 0
    for weight in activity:
        running += weight
        cumulative.append(running)
    specs = []
    for kpi, (_name, _units, _points, kind, department_level) in zip(kpis, KPIS, strict=True):
        specs.append(
            (
                str(kpi.id),
                cents(str(kpi.rating_units)),
                kpi.rating_points,
                value_sampler(kind, rng),
                kpi.department_id,
                department_level,
            )
        )
    # Department-level KPI i goes to the people of the department it belongs to.
    from orgs.models import Department
    from orgs.tenancy import company_context

    with company_context(company.id):
        index_of = {d.id: i for i, d in enumerate(Department.objects.order_by("name"))}
    pools = {spec[4]: by_department.get(index_of[spec[4]], people) for spec in specs if spec[5]}
    company_id = str(company.id)
    voided_at = datetime.datetime.now(datetime.UTC).isoformat()
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = 'ratings_kpiaction'
              AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')
            """
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        written = 0
        with conn.cursor().copy(f"COPY ratings_kpiaction ({ACTION_COLUMNS}) FROM STDIN") as copy:
            while written < total:
                n = min(CHUNK, total - written)
                chosen_kpis = rng.choices(specs, weights=KPI_WEIGHTS, k=n)
                members = rng.choices(people, cum_weights=cumulative, k=n)
                lines = []
                for spec, member in zip(chosen_kpis, members, strict=True):
                    kpi_id, units_cents, rating_points, sample, department_id, department_level = spec
                    if department_level:
                        pool = pools[department_id]
                        member = pool[rng.randrange(len(pool))]
                    value = sample()
                    day, offset = days[rng.randrange(365)]
                    occurred = f"{day} {clock[rng.randrange(86400)]}{offset}"
                    voided = rng.random() < VOIDED_FRACTION
                    lines.append(
                        f"{company_id}\t{member}\t{kpi_id}\t{fmt(value)}\t"
                        f"{fmt(points_cents(value, units_cents, rating_points))}"
                        f"\t{occurred}\t{day}\tapi\t\\N\t"
                        f"\t\t{voided_at if voided else chr(92) + 'N'}\t\\N\t{'bench' if voided else ''}"
                        f"\t{occurred}\t{occurred}\n"
                    )
                copy.write("".join(lines))
                written += n
                if written % 1_000_000 == 0:
                    elapsed = time.perf_counter() - started
                    print(
                        f"    {written:>12,} actions  {elapsed:7.1f} s  {written / elapsed:9,.0f}/s",
                        flush=True,
                    )
        copied = time.perf_counter() - started
        print(f"  COPY of {total:,} actions: {copied:.1f} s ({total / copied:,.0f} rows/s)", flush=True)
        index_started = time.perf_counter()
        for _name, definition in indexes:
            conn.execute(definition)
        conn.commit()
        print(f"  {len(indexes)} indexes rebuilt: {time.perf_counter() - index_started:.1f} s", flush=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    build(database_url(), people=args.people, actions=args.actions, seed=args.seed)


def build(url: str, *, people: int, actions: int, seed: int) -> None:
    """Everything above into the database at ``url`` (dropped first), Django set up on it."""
    rng = random.Random(seed)
    print(f"ratings bench data: {people:,} people, {actions:,} actions, seed {seed} -> {url}")
    total_started = time.perf_counter()

    started = time.perf_counter()
    recreate_database(url)
    django_setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"  database created and migrated: {time.perf_counter() - started:.1f} s", flush=True)

    started = time.perf_counter()
    company, person_ids, by_department = create_org(people, rng, url)
    print(
        f"  company, {DEPARTMENTS} departments, {DEPARTMENTS * TEAMS_PER_DEPARTMENT} teams, "
        f"{len(person_ids):,} people: {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    started = time.perf_counter()
    kpis = create_kpis(company)
    print(f"  {len(kpis)} KPIs through kpis.services: {time.perf_counter() - started:.1f} s", flush=True)

    elapsed = copy_actions(url, company, kpis, person_ids, by_department, actions, rng)
    print(f"  actions loaded (COPY + indexes): {elapsed:.1f} s", flush=True)

    from django.db import transaction

    from orgs.tenancy import company_context
    from ratings.services import aggregates_rebuild

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE ratings_kpiaction")
    connection.close()
    started = time.perf_counter()
    with company_context(company.id), transaction.atomic():
        result = aggregates_rebuild()
        daily, rating = result.daily, result.rating
    rebuild = time.perf_counter() - started
    print(
        f"  AGGREGATE REBUILD (ratings.services.aggregates_rebuild, app role + RLS): {rebuild:.1f} s"
        f"  ({daily:,} daily totals, {rating:,} rating totals; goal <= 300 s for 10 M actions)",
        flush=True,
    )
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (
            "ratings_kpiaction",
            "ratings_dailytotal",
            "ratings_ratingtotal",
            "orgs_member",
            "orgs_user",
        ):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s; database size {size}")
    print(f"  total: {time.perf_counter() - total_started:.1f} s")


if __name__ == "__main__":
    main()
