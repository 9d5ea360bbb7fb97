"""Ingesting actions on the bench data (run ``python -m bench.ratings_data`` first).

    .venv/bin/python -m bench.ratings_ingest [--batches 20] [--batch-size 1000] [--api]

Times in one run:
  (a) ours: ratings.services.actions_record in-process, as the app role in company_context,
      batches of ``--batch-size`` actions (random people and KPIs of the bench company within
      each KPI's audience, unique external ids, people by external id): actions/s; and a single
      action recorded alone, p50/p95;
  (b) the reference: a raw COPY of the same number of rows into ratings_kpiaction plus one
      aggregate upsert (INSERT … ON CONFLICT DO UPDATE into ratings_dailytotal, keys sorted) in
      one transaction, through psycopg as the owner (no RLS): rows/s, and the ratio (a)/(b);
      its rows are removed afterwards (and their daily totals taken back), untimed;
  (c) with ``--api``: the same through gunicorn (2 workers, kpi_platform.wsgi, 127.0.0.1:8077)
      and ``POST /api/v1/actions/`` with an API token, 2 client threads — skipped when the URL
      does not resolve yet.
Then checks that the daily totals of the keys written by (a) equal the sums of their actions.

Each timed part starts right after a ``CHECKPOINT``: after one, the first change of every page
writes the whole page to the WAL, so a part that happened to run just after the server's own
checkpoint paid several times the WAL of one that did not, and the ratios swung by a third.
"""

import argparse
import datetime
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg

from bench._common import bench_company, database_url, django_setup, ms, percentile, reference_daily_upsert
from bench._stack import start_gunicorn, stop_process

API_PORT = 8077


def make_items(rng, people, kpis, count: int, prefix: str, tz) -> list[dict]:
    """``count`` valid items: a KPI, then a person it reaches; a time in the last 30 days."""
    now = datetime.datetime.now(tz)
    items = []
    for i in range(count):
        kpi = rng.choice(kpis)
        pool = people["by_department"][kpi.department_id] if kpi.level == "department" else people["all"]
        external_id = pool[rng.randrange(len(pool))]
        moment = now - datetime.timedelta(seconds=rng.randrange(30 * 86400))
        items.append(
            {
                "kpi": kpi.integration_name,
                "user": external_id,
                "value": f"{rng.randint(1, 2000)}.{rng.randrange(100):02d}",
                "occurred_at": moment.isoformat(timespec="seconds"),
                "external_id": f"{prefix}-{i}",
            }
        )
    return items


def checkpoint(url: str) -> None:
    """Every timed part starts from a fresh checkpoint (see the module's docstring)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def reference_copy(url: str, company_id: int, rows: list[tuple]) -> float:
    """COPY ``rows`` + one sorted daily-total upsert, one transaction, as the owner. Seconds."""
    checkpoint(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        now = datetime.datetime.now(datetime.UTC)
        with conn.cursor().copy(
            "COPY ratings_kpiaction (company_id, member_id, kpi_id, value, points, occurred_at, day, source,"
            " external_id, comment, void_reason, created_at, updated_at) FROM STDIN"
        ) as copy:
            for member_id, kpi_id, value, points, occurred_at, day, external_id in rows:
                copy.write_row(
                    (
                        company_id,
                        member_id,
                        kpi_id,
                        value,
                        points,
                        occurred_at,
                        day,
                        "api",
                        external_id,
                        "",
                        "",
                        now,
                        now,
                    )
                )
        daily = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
        for member_id, kpi_id, value, points, _occurred_at, day, _external_id in rows:
            total = daily[(member_id, kpi_id, day)]
            total[0] += value
            total[1] += points
            total[2] += 1
        reference_daily_upsert(conn, company_id, daily, now)
        conn.commit()
    return time.perf_counter() - started


def reference_cleanup(url: str, company_id: int, prefix: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            WITH gone AS (
                DELETE FROM ratings_kpiaction WHERE company_id = %(c)s AND external_id LIKE %(p)s
                RETURNING member_id, kpi_id, day, value, points
            ), sums AS (
                SELECT member_id, kpi_id, day, SUM(value) v, SUM(points) p, COUNT(*) n FROM gone
                GROUP BY 1, 2, 3
            )
            UPDATE ratings_dailytotal d SET value = d.value - s.v, points = d.points - s.p,
                actions = d.actions - s.n
            FROM sums s WHERE d.company_id = %(c)s AND d.member_id = s.member_id AND d.kpi_id = s.kpi_id
                AND d.day = s.day
            """,
            {"c": company_id, "p": f"{prefix}-%"},
        )
        conn.execute("DELETE FROM ratings_dailytotal WHERE company_id = %s AND actions = 0", [company_id])
        conn.commit()


def check_daily_totals(company_id: int, prefix: str) -> tuple[int, int]:
    """Daily totals of the keys (a) wrote vs the sums of their actions: (keys, mismatches)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH keys AS (
                SELECT DISTINCT member_id, kpi_id, day FROM ratings_kpiaction
                WHERE company_id = %(c)s AND external_id LIKE %(p)s
            ), truth AS (
                SELECT a.member_id, a.kpi_id, a.day, SUM(a.value) v, SUM(a.points) p, COUNT(*) n
                FROM ratings_kpiaction a JOIN keys USING (member_id, kpi_id, day)
                WHERE a.company_id = %(c)s AND a.voided_at IS NULL GROUP BY 1, 2, 3
            )
            SELECT COUNT(*), COUNT(*) FILTER (WHERE d.value IS DISTINCT FROM t.v
                OR d.points IS DISTINCT FROM t.p
                OR d.actions IS DISTINCT FROM t.n)
            FROM truth t LEFT JOIN ratings_dailytotal d ON d.company_id = %(c)s AND d.member_id = t.member_id
                AND d.kpi_id = t.kpi_id AND d.day = t.day
            """,
            {"c": company_id, "p": f"{prefix}-%"},
        )
        return cursor.fetchone()


def peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def api_run(url: str, company_id: int, batches: list[list[dict]], singles: list[dict]) -> float | None:
    """(c): gunicorn, 2 workers, 2 client threads posting the batches; then single actions."""
    import http.client

    from django.urls import Resolver404, resolve

    from orgs.services import api_token_create
    from orgs.tenancy import company_context

    try:
        resolve("/api/v1/actions/")
    except Resolver404:
        print("  (c) API ingestion: SKIPPED, POST /api/v1/actions/ does not exist yet")
        return None
    with company_context(company_id):
        secret = api_token_create(name=f"bench {uuid.uuid4().hex[:6]}", scopes=["actions", "read"]).secret
    env = dict(
        os.environ,
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="kpi_platform.settings.production",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        CONN_MAX_AGE="600",
    )
    log_path = Path(tempfile.gettempdir()) / "bench_ratings_gunicorn.log"
    log_path.unlink(missing_ok=True)  # this run's deadlocks only
    server = start_gunicorn(env, API_PORT, workers=2, log=log_path)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    try:
        statuses: dict[int, int] = defaultdict(int)
        lock = threading.Lock()

        def client(mine: list[list[dict]]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=120)
            for batch in mine:
                conn.request("POST", "/api/v1/actions/", body=json.dumps(batch), headers=headers)
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1

        # warm both workers
        client([batches[0][:10]] * 4)
        statuses.clear()
        threads = [threading.Thread(target=client, args=(batches[1 + n :: 2],)) for n in range(2)]
        checkpoint(url)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        sent = sum(len(batch) for batch in batches[1:])
        samples = []
        conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=30)
        for item in singles:
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/actions/", body=json.dumps(item), headers=headers)
            response = conn.getresponse()
            response.read()
            samples.append(time.perf_counter() - t0)
            statuses[response.status] += 1
        workers = subprocess.run(  # noqa: S603
            ["pgrep", "-P", str(server.pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        rss = max((peak_rss_kb(int(pid)) for pid in workers), default=0)
    finally:
        stop_process(server)
    deadlocks = log_path.read_text().lower().count("deadlock")
    print(
        f"  (c) API, gunicorn 2 workers, 2 clients, batches of {len(batches[1])}:"
        f" {sent / elapsed:10,.0f} actions/s"
        f"  statuses {dict(statuses)}  deadlocks in log {deadlocks}  worker peak RSS {rss / 1024:.0f} MB"
        "   goal >= 30,000/s, 0 x 5xx, 0 deadlocks, <= 300 MB"
    )
    print(
        f"      single action alone ({len(singles)} posts): p50 {ms(percentile(samples, 0.5))}"
        f"  p95 {ms(percentile(samples, 0.95))}   goal p95 <= 30 ms"
    )
    return sent / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api", action="store_true", help="also run (c) through gunicorn")
    args = parser.parse_args()
    url = database_url()
    django_setup()
    from kpis.models import Kpi
    from orgs.models import Member
    from orgs.tenancy import company_context
    from ratings.services import actions_record

    company = bench_company()
    tz = company.zone
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:8]
    with company_context(company.id):
        # Calculated KPIs (K11) accept no actions.
        kpis = list(Kpi.objects.filter(status="active", formula="").order_by("id"))
        people = {"all": [], "by_department": defaultdict(list)}
        ids = {}
        for user_id, department_id, external_id in Member.objects.values_list(
            "user_id", "department_id", "external_id"
        ):
            people["all"].append(external_id)
            people["by_department"][department_id].append(external_id)
            ids[external_id] = user_id
    total = args.batches * args.batch_size
    batches = [
        make_items(rng, people, kpis, args.batch_size, f"ing-{run}-{n}", tz) for n in range(args.batches + 1)
    ]
    print(
        f"ingestion on PostgreSQL: {args.batches} batches of {args.batch_size:,} ({total:,} actions) into "
        f"{company.name}"
    )

    # (a) the recording service, in-process
    with company_context(company.id):
        actions_record(items=batches[0])  # warm (not counted)
        checkpoint(url)
        started = time.perf_counter()
        for batch in batches[1:]:
            result = actions_record(items=batch)
            assert result.created == len(batch), result.created
        service = time.perf_counter() - started
        singles = make_items(rng, people, kpis, args.singles, f"ing-{run}-single", tz)
        samples = []
        for item in singles:
            t0 = time.perf_counter()
            actions_record(items=[item])
            samples.append(time.perf_counter() - t0)
    print(
        f"  (a) actions_record in-process, batches of {args.batch_size:,}: {total / service:10,.0f} actions/s"
    )
    print(
        f"      one action alone ({args.singles} calls): p50 {ms(percentile(samples, 0.5))}"
        f"  p95 {ms(percentile(samples, 0.95))}"
    )

    # (b) the reference: the same number of rows, COPY + one upsert, one transaction
    kpi_by_name = {kpi.integration_name: kpi for kpi in kpis}
    rows = []
    prefix = f"ref-{run}"
    for n, item in enumerate(item for batch in batches[1:] for item in batch):
        kpi = kpi_by_name[item["kpi"]]
        value = Decimal(item["value"])
        points = (value * kpi.rating_points / kpi.rating_units).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        moment = datetime.datetime.fromisoformat(item["occurred_at"])
        rows.append(
            (ids[item["user"]], kpi.id, value, points, moment, moment.astimezone(tz).date(), f"{prefix}-{n}")
        )
    reference = reference_copy(url, company.id, rows)
    reference_cleanup(url, company.id, prefix)
    print(f"  (b) reference: COPY + 1 daily upsert, 1 transaction: {total / reference:10,.0f} rows/s")
    print(
        f"      ratio (a)/(b) = {reference / service:.2f}"
        "   (the goal for the API is >= 0.35, and >= 30,000/s)"
    )

    with company_context(company.id):
        keys, mismatches = check_daily_totals(company.id, f"ing-{run}")
    print(f"  check: {keys:,} daily totals written by (a), {mismatches} differ from their actions' sums")

    if args.api:
        api_batches = [
            make_items(rng, people, kpis, args.batch_size, f"api-{run}-{n}", tz)
            for n in range(args.batches + 1)
        ]
        api_singles = make_items(rng, people, kpis, args.singles, f"api-{run}-single", tz)
        rate = api_run(url, company.id, api_batches, api_singles)
        if rate is not None:
            print(f"      ratio (c)/(b) = {rate * reference / total:.2f}   goal >= 0.35")


if __name__ == "__main__":
    main()
