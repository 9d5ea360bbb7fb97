"""Spreadsheet imports end to end (PRODUCT I3, issue 6): upload → ``succeeded`` with a real worker.

    .venv/bin/python -m bench.imports [--rows 100000,1000000] [--formats xlsx,csv] [--people 1000]
                                      [--bad-row] [--keep-files]

Against a dedicated database, ``kpi_h6_bench`` on the local PostgreSQL (``BENCH_IMPORTS_DATABASE_URL``
to change it; the name must contain ``bench``), recreated and migrated each run, and the Redis broker
``BENCH_IMPORTS_REDIS_URL`` (default ``redis://127.0.0.1:6379/6``). For each size and format:

1. generates an actions file (``user``, ``kpi``, ``value``, ``occurred_at`` without time zone,
   empty ``external_id`` so every row gets a derived one (R4), ``comment``) for N people × 5 KPIs
   over the last 300 days (not timed);
2. starts a fresh Celery worker process (``--pool solo``, production settings), so its peak resident
   memory (``VmHWM``) is this file's;
3. times the upload (``integrations.services.import_job_create``: the file stored, hashed and queued,
   as the admin and the API do) until the job is ``succeeded``, polling the job every 50 ms;
4. the reference in the same run: parse the same file (python-calamine / the csv module), resolve
   people and KPIs in dicts, compute points, ``COPY`` the rows into ``ratings_kpiaction`` and upsert
   the daily totals in one statement, one transaction as the owner (no RLS), rolled back;
5. prints rows/s, the worker's peak memory, the reference's rows/s and the ratio reference/job;
   then the reference plus the foreign-key checks of its rows, which its rollback skips and the
   job's commit runs (``ratings_kpiaction``'s constraints are deferred to the commit), and that
   ratio too.

``--bad-row`` adds, per size and format, the same file with an unknown KPI in its last row: the job
must be ``failed`` with that row's error and nothing recorded.

Goals (issue 6): 1,000,000-row xlsx ≤ 60 s, csv ≤ 40 s, ratio ≥ 0.4; 100,000-row xlsx ≤ 8 s; worker
peak ≤ 1 GiB (xlsx) / ≤ 300 MB (csv); the bad-row million ``failed`` in ≤ 60 s.
"""

import argparse
import csv
import datetime
import os
import random
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg

from bench import _stack
from bench._common import reference_daily_upsert
from bench.ratings_ingest import peak_rss_kb

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kpi_h6_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
TIME_ZONE = "Europe/Moscow"
KPIS = [("calls", "1.00", 1), ("meetings", "1.00", 5), ("revenue", "1000.00", 3), ("leads", "2.50", 4)]
KPIS.append(("reviews", "7.00", 3))
HEADER = ["user", "kpi", "value", "occurred_at", "external_id", "comment"]
CENT = Decimal("0.01")


def configure() -> tuple[str, str, Path]:
    url = os.environ.get("BENCH_IMPORTS_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres") or "bench" not in url.rsplit("/", 1)[1]:
        sys.exit(f"Refusing {url}: the imports benchmark uses a database whose name contains 'bench'.")
    redis = os.environ.get("BENCH_IMPORTS_REDIS_URL", DEFAULT_REDIS)
    media = Path(tempfile.mkdtemp(prefix="kpi-bench-imports-media-"))
    os.environ.update(
        DATABASE_URL=url,
        REDIS_URL=redis,
        MEDIA_ROOT=str(media),
        DJANGO_SETTINGS_MODULE="kpi_platform.settings.base",
        # As in production: with DEBUG the worker would keep every statement's text (the batches'
        # arrays, megabytes each) in ``connection.queries`` for the whole task.
        DEBUG="False",
        IMPORT_MAX_BYTES=str(2 * 1024**3),
    )
    return url, redis, media


def recreate_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def create_company(people: int):
    """The company (services), its admin and people (``member_create``), five Active KPIs."""
    from kpis.services import kpi_create
    from orgs.models import Role
    from orgs.services import company_create, member_create
    from orgs.tenancy import company_context

    company, _ = company_create(slug="bench-imports", name="Bench Imports", time_zone=TIME_ZONE)
    with company_context(company.id):
        admin = member_create(email="admin@bench.example", role=Role.ADMIN)
        for n in range(people):
            member_create(email=f"p{n}@bench.example")
        for name, units, points in KPIS:
            kpi_create(
                name={"en": name.title()},
                integration_name=name,
                status="active",
                in_rating=True,
                rating_units=units,
                rating_points=points,
            )
    return company, admin


def generate_rows(count: int, people: int, seed: int, bad_last: bool):
    rng = random.Random(seed)
    today = datetime.date.today()
    for n in range(count):
        day = today - datetime.timedelta(days=rng.randrange(1, 300))
        moment = datetime.datetime.combine(day, datetime.time(rng.randrange(8, 20), rng.randrange(60)))
        kpi = "no_such_kpi" if bad_last and n == count - 1 else KPIS[rng.randrange(len(KPIS))][0]
        value = f"{rng.randint(1, 2000) / 4:.2f}"
        yield [f"p{rng.randrange(people)}@bench.example", kpi, value, moment, "", ""]


def write_file(path: Path, fmt: str, rows) -> None:
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as output:
            writer = csv.writer(output)
            writer.writerow(HEADER)
            for row in rows:
                row[3] = row[3].isoformat(sep=" ")
                writer.writerow(row)
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        row[2] = float(row[2])  # numeric cells, as a spreadsheet holds them
        sheet.append(row)
    workbook.save(path)


# --- The worker ----------------------------------------------------------------------------------


def start_worker(log: Path) -> subprocess.Popen:
    """The app's worker (``bench._stack``), given time to reach the broker before the clock starts."""
    worker = _stack.start_worker(os.environ.copy(), log)
    time.sleep(3)
    if worker.poll() is not None:
        sys.exit(f"The worker did not start: {log.read_text()[-2000:]}")
    return worker


def peak_rss_mb(pid: int) -> float:
    return peak_rss_kb(pid) / 1024


# --- One run -------------------------------------------------------------------------------------


def run_job(company, admin, path: Path, timeout: float = 900):
    """Upload ``path`` and wait for the job to finish; (seconds, job)."""
    from django.core.files import File

    from integrations.models import ImportJob
    from integrations.services import import_job_create
    from orgs.tenancy import company_context

    with company_context(company.id):
        started = time.perf_counter()
        with path.open("rb") as handle:
            job = import_job_create(file=File(handle, name=path.name), actor=admin)
        while time.perf_counter() - started < timeout:
            job = ImportJob.objects.get(id=job.id)
            if job.is_finished:
                return time.perf_counter() - started, job
            time.sleep(0.05)
    sys.exit(f"The job {job.id} did not finish in {timeout:.0f} s.")


def actions_count(company) -> int:
    from orgs.tenancy import company_context
    from ratings.models import KpiAction

    with company_context(company.id):
        return KpiAction.objects.count()


def reference(url: str, company, path: Path, fmt: str) -> tuple[float, float]:
    """Parse + resolve + COPY + one daily-total upsert, one transaction, rolled back: seconds, and
    the seconds the foreign-key checks of the copied rows then take (``SET CONSTRAINTS ALL
    IMMEDIATE`` runs the checks a commit would run; the constraints are deferred)."""
    tz = zoneinfo.ZoneInfo(TIME_ZONE)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        people = dict(
            conn.execute("SELECT lower(email), id FROM orgs_user WHERE company_id = %s", [company.id])
        )
        kpis = {
            name: (kpi_id, units, points)
            for kpi_id, name, units, points in conn.execute(
                "SELECT id, integration_name, rating_units, rating_points FROM kpis_kpi"
                " WHERE company_id = %s",
                [company.id],
            )
        }
        now = datetime.datetime.now(datetime.UTC)
        daily = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
        with conn.cursor().copy(
            "COPY ratings_kpiaction (company_id, member_id, kpi_id, value, points, occurred_at, day, source,"
            " external_id, comment, void_reason, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n, (user, kpi_name, value, moment) in enumerate(_read(path, fmt), start=2):
                kpi_id, units, points_per = kpis[kpi_name]
                member_id = people[user]
                value = Decimal(str(value)).quantize(CENT)
                points = (value * points_per / units).quantize(CENT, rounding=ROUND_HALF_UP)
                if isinstance(moment, str):
                    moment = datetime.datetime.fromisoformat(moment)
                moment = moment.replace(tzinfo=tz)
                day = moment.date()
                copy.write_row(
                    (
                        company.id,
                        member_id,
                        kpi_id,
                        value,
                        points,
                        moment,
                        day,
                        "import",
                        f"ref:{n}",
                        "",
                        "",
                        now,
                        now,
                    )
                )
                total = daily[(member_id, kpi_id, day)]
                total[0] += value
                total[1] += points
                total[2] += 1
        reference_daily_upsert(conn, company.id, daily, now)
        elapsed = time.perf_counter() - started
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        checks = time.perf_counter() - started - elapsed
        conn.rollback()
    return elapsed, checks


def _read(path: Path, fmt: str):
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader)
            for user, kpi, value, moment, _external_id, _comment in reader:
                yield user.lower(), kpi, value, moment
        return
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows()
    next(rows)
    for user, kpi, value, moment, *_rest in rows:
        yield user.lower(), kpi, repr(value), moment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--formats", default="xlsx,csv")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--bad-row", action="store_true", help="also the file with one bad last row")
    parser.add_argument("--keep-files", action="store_true")
    args = parser.parse_args()
    url, redis, _media = configure()

    import django

    recreate_database(url)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    company, admin = create_company(args.people)
    print(f"imports bench: {url.rsplit('/', 1)[1]}, broker {redis}, {args.people} people, {len(KPIS)} KPIs")

    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-imports-"))
    for rows in (int(size) for size in args.rows.split(",")):
        for fmt in args.formats.split(","):
            cases = [False, True] if args.bad_row else [False]
            for bad_last in cases:
                path = folder / f"actions-{rows}{'-bad' if bad_last else ''}.{fmt}"
                started = time.perf_counter()
                write_file(path, fmt, generate_rows(rows, args.people, seed=rows, bad_last=bad_last))
                size_mb = path.stat().st_size / 1024**2
                print(f"\n{path.name}: {size_mb:.1f} MB, generated in {time.perf_counter() - started:.1f} s")
                before = actions_count(company)
                worker = start_worker(folder / "worker.log")
                try:
                    seconds, job = run_job(company, admin, path)
                    peak = peak_rss_mb(worker.pid)
                finally:
                    _stack.stop_process(worker)
                added = actions_count(company) - before
                print(
                    f"  job {job.id}: {job.status} in {seconds:.2f} s = {rows / seconds:,.0f} rows/s;"
                    f" created {job.created}, duplicates {job.duplicates}, errors {job.error_count};"
                    f" actions added {added:,}; worker peak RSS {peak:,.0f} MB"
                )
                if bad_last:
                    print(f"  first error: {job.errors[:1]}; nothing recorded: {added == 0}")
                    continue
                ref, checks = reference(url, company, path, fmt)
                print(
                    f"  reference (parse + COPY + daily upsert, rolled back): {ref:.2f} s ="
                    f" {rows / ref:,.0f} rows/s; ratio reference/job {ref / seconds:.2f}"
                )
                print(
                    f"  the same + the foreign-key checks its commit would run: {ref + checks:.2f} s ="
                    f" {rows / (ref + checks):,.0f} rows/s; ratio {(ref + checks) / seconds:.2f}"
                )
            if not args.keep_files:
                for leftover in folder.glob(f"actions-{rows}*.{fmt}"):
                    leftover.unlink()
    print(f"\nfiles in {folder}" if args.keep_files else "")


if __name__ == "__main__":
    main()
