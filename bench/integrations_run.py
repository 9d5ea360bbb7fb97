"""A whole run of a generic JSON source against a file import of the same rows (issue 20).

    .venv/bin/python -m bench.integrations_run [--records 100000] [--page-size 500] [--people 1000]

Against a dedicated database, ``kpi_integrations_bench`` on the local PostgreSQL
(``BENCH_IMPORTS_DATABASE_URL`` to change it; the name must contain ``bench``), recreated and
migrated each run, and the Redis broker ``BENCH_IMPORTS_REDIS_URL`` (default db 7), with one real
Celery worker (``--pool solo``) for both sides:

1. the same N rows as ``bench.imports`` generates (N people's e-mails, five KPIs, the last 300
   days), written once as a csv and once as the pages of a JSON API served from another process
   on 127.0.0.1 (``{"data": {"items": [...]}, "links": {"next": …}}``, rendered before the clock);
2. the reference: the csv uploaded as a file import (``import_job_create``), timed until the job
   has ``succeeded``;
3. the run: a ``json`` source whose mapping reads the person's e-mail, the KPI, the value and the
   time, timed from "run now" until its run has ``succeeded`` — no upload: the worker reads the
   pages over HTTP through the connector (its limits and connect-time checks), maps each record
   and records the run through the same recorder;
4. the ratio run / file import (records/s over rows/s; goal ≥ 0.7);
5. the same source run again: every record is read and found recorded (exactly once, R4), timed.
"""

import argparse
import json
import multiprocessing
import os
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench import _stack, imports, integrations_json

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kpi_integrations_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"


def serve(port_queue, bodies: list[bytes]) -> None:
    """The API: ``?page=K`` is the K-th page (from 0); each links to the next."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    port = server.server_address[1]
    pages = []
    for number, items in enumerate(bodies):
        following = f"http://127.0.0.1:{port}/items?page={number + 1}" if number + 1 < len(bodies) else None
        pages.append(
            b'{"data": {"items": ' + items + b'}, "links": {"next": ' + json.dumps(following).encode()
        )
        pages[-1] += b"}}"

    def page_for(path: str) -> bytes:
        number = int(path.partition("page=")[2] or 0)
        return pages[number] if number < len(pages) else integrations_json.EMPTY_PAGE

    server.RequestHandlerClass = integrations_json.json_pages_handler(page_for)
    port_queue.put(port)
    server.serve_forever()


def json_pages(rows: list[list], page_size: int) -> list[bytes]:
    records = [
        {"id": f"r-{n:07d}", "email": row[0], "kpi": row[1], "value": row[2], "at": row[3].isoformat()}
        for n, row in enumerate(rows)
    ]
    return [
        json.dumps(records[start : start + page_size]).encode() for start in range(0, len(records), page_size)
    ]


def create_source(company, admin, port: int):
    from integrations.services import integration_source_create
    from orgs.tenancy import company_context

    with company_context(company.id):
        return integration_source_create(
            name="Bench API",
            kind="json",
            settings={
                "url": f"http://127.0.0.1:{port}/items",
                "records_path": "data.items",
                "pagination": "next",
                "next_path": "links.next",
            },
            credentials={"token": "bench"},
            mapping={"person": "email", "kpi": "kpi", "value": "value", "time": "at"},
            actor=admin,
        )


def run_source(company, source, timeout: float = 900):
    """Run now, and wait for the run to finish; (seconds, job)."""
    from integrations.models import ImportJob
    from integrations.services import integration_source_run_now
    from orgs.tenancy import company_context

    with company_context(company.id):
        started = time.perf_counter()
        job = integration_source_run_now(source=source)
        while time.perf_counter() - started < timeout:
            job = ImportJob.objects.get(id=job.id)
            if job.is_finished:
                return time.perf_counter() - started, job
            time.sleep(0.05)
    raise SystemExit(f"The run {job.id} did not finish in {timeout:.0f} s.")


def describe(what: str, seconds: float, count: int, job) -> str:
    return (
        f"{what}: {job.status} in {seconds:.2f} s = {count / seconds:,.0f} rows/s;"
        f" created {job.created:,}, duplicates {job.duplicates:,}, errors {job.error_count}"
        + (f" (first: {job.errors[:1]})" if job.error_count else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_IMPORTS_DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("BENCH_IMPORTS_REDIS_URL", DEFAULT_REDIS)
    # The source is on 127.0.0.1 over plain http: allowed here as in development, never in production.
    os.environ.update(INTEGRATION_ALLOW_HTTP="True", INTEGRATION_ALLOW_PRIVATE_HOSTS="True")
    url, redis, media = imports.configure()

    import django

    imports.recreate_database(url)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    company, admin = imports.create_company(args.people)
    rows = list(imports.generate_rows(args.records, args.people, seed=args.records, bad_last=False))
    csv_path = media / "actions.csv"
    imports.write_file(csv_path, "csv", [list(row) for row in rows])
    pages = json_pages(rows, args.page_size)
    print(
        f"integration run bench: {url.rsplit('/', 1)[1]}, broker {redis}, {args.people:,} people,"
        f" {args.records:,} rows; csv {csv_path.stat().st_size / 1024**2:.1f} MB,"
        f" JSON {len(pages):,} pages of {args.page_size} ({sum(map(len, pages)) / 1024**2:.1f} MB)"
    )
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, pages), daemon=True)
    server.start()
    worker = imports.start_worker(Path(media) / "worker.log")
    try:
        source = create_source(company, admin, ports.get(timeout=120))
        file_seconds, file_job = imports.run_job(company, admin, csv_path)
        print("  " + describe("file import (reference)", file_seconds, args.records, file_job))
        run_seconds, run_job = run_source(company, source)
        print("  " + describe("JSON source run", run_seconds, args.records, run_job))
        print(f"  ratio source run / file import: {file_seconds / run_seconds:.2f} (goal >= 0.7)")
        again_seconds, again_job = run_source(company, source)
        print(
            "  " + describe("the same source run again (nothing new)", again_seconds, args.records, again_job)
        )
    finally:
        _stack.stop_process(worker)
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
