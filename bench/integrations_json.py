"""The generic JSON connector's read speed (issue 20): records/s, and the ratio to a file's parse.

    .venv/bin/python -m bench.integrations_json [--records 100000] [--page-size 500] [--runs 3]

A local HTTP server in another process (so its work is not the connector's) serves N records in
pages of ``--page-size``, each answer ``{"data": {"items": [...]}, "links": {"next": "…"}}`` as a
real API pages them, rendered before the clock starts. Each record is an object with a nested
person (``{"id", "user": {"email"}, "kpi", "value", "occurred_at", "updated_at"}``).

1. the connector: ``JsonApiConnector.pull`` over http://127.0.0.1 with ``pagination=next`` and
   ``updated_field``, every record iterated (the HTTP client with its limits and connect-time
   checks, JSON decoding, flattening, ids, change times, the cursor): records/s;
2. the reference in the same run: the same rows as a csv (``user,kpi,value,occurred_at,
   external_id``) read by ``integrations.parsing.open_table`` from memory, every row iterated and
   made a dict header → cell, as a file import's parse stage reads them: rows/s;
3. the ratio connector / reference, the best of ``--runs`` each.

No database: the settings are ``kpi_platform.settings.base`` (plain http to 127.0.0.1 is allowed
there). The full run (records mapped and recorded) is the run machinery's to add.
"""

import argparse
import csv
import io
import json
import multiprocessing
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def record(number: int) -> dict:
    day = 1 + number % 28
    return {
        "id": f"r-{number:07d}",
        "user": {"email": f"p{number % 1000}@bench.example"},
        "kpi": ("calls", "meetings", "revenue")[number % 3],
        "value": number % 50 + 1,
        "occurred_at": f"2026-02-{day:02d}T10:{number % 60:02d}:00+03:00",
        "updated_at": f"2026-02-{day:02d}T12:00:00Z",
    }


def serve(port_queue, records: int, page_size: int) -> None:
    """The API: pages rendered up front; ``?after=K`` is the page starting at record K."""
    pages: dict[int, bytes] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    port = server.server_address[1]
    for start in range(0, records, page_size):
        following = start + page_size
        items = [record(n) for n in range(start, min(following, records))]
        link = f"http://127.0.0.1:{port}/items?after={following}" if following < records else None
        pages[start] = json.dumps({"data": {"items": items}, "links": {"next": link}}).encode()

    server.RequestHandlerClass = json_pages_handler(
        lambda path: pages.get(int(path.partition("after=")[2] or 0), EMPTY_PAGE)
    )
    port_queue.put(port)
    server.serve_forever()


EMPTY_PAGE = b'{"data": {"items": []}, "links": {"next": null}}'


def json_pages_handler(page_for):
    """A request handler answering each GET with the JSON body ``page_for(path)`` gives."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # As a real server does (TCP_NODELAY): else the body, written after the headers, waits
        # for the client's delayed ACK, some 40 ms an answer, and the bench measures that.
        disable_nagle_algorithm = True

        def do_GET(self):
            body = page_for(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def read_connector(port: int) -> tuple[int, float]:
    from integrations.connectors import Limits
    from integrations.connectors.json_api import JsonApiConnector

    started = time.perf_counter()
    pull = JsonApiConnector().pull(
        settings={
            "url": f"http://127.0.0.1:{port}/items",
            "records_path": "data.items",
            "pagination": "next",
            "next_path": "links.next",
            "updated_field": "updated_at",
        },
        credentials={"token": "bench"},
        cursor=None,
        limits=Limits(),
        now=None,
    )
    count = sum(1 for _record in pull.records)
    return count, time.perf_counter() - started


def csv_bytes(records: int) -> bytes:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(["user", "kpi", "value", "occurred_at", "external_id"])
    for number in range(records):
        r = record(number)
        writer.writerow([r["user"]["email"], r["kpi"], r["value"], r["occurred_at"], r["id"]])
    return output.getvalue().encode()


def read_reference(content: bytes) -> tuple[int, float]:
    from integrations.parsing import open_table

    started = time.perf_counter()
    table = open_table(io.BytesIO(content), "bench.csv")
    header = table.header
    count = sum(1 for _number, cells in table.rows if dict(zip(header, cells, strict=False)))
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpi_platform.settings.base")
    import django

    django.setup()
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, args.records, args.page_size), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=120)
        content = csv_bytes(args.records)
        connector, reference = [], []
        for run in range(1, args.runs + 1):
            count, seconds = read_connector(port)
            assert count == args.records, count
            connector.append(seconds)
            rows, ref_seconds = read_reference(content)
            assert rows == args.records, rows
            reference.append(ref_seconds)
            print(
                f"run {run}: connector {count:,} records in {seconds:.2f} s ({count / seconds:,.0f}/s); "
                f"reference {rows:,} csv rows in {ref_seconds:.2f} s ({rows / ref_seconds:,.0f}/s)"
            )
        best, best_ref = min(connector), min(reference)
        pages = -(-args.records // args.page_size)
        print(
            f"json connector: {args.records:,} records in {pages:,} pages of {args.page_size}: "
            f"{args.records / best:,.0f} records/s (best of {args.runs})"
        )
        print(f"reference (open_table on the same rows as csv): {args.records / best_ref:,.0f} rows/s")
        print(f"ratio connector / reference: {best_ref / best:.2f}")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
