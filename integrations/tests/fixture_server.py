"""A small HTTP server on 127.0.0.1 that speaks the integration sources' real formats (issue 20).

``serve()`` starts it on a free port in a thread; a test adds routes and reads ``requests``:

    with serve() as server:
        server.route("/deals", json_answer({...}), Answer(500), ...)  # answered in turn, the last again
        server.route("/items", paged_json(records, style="next"))       # or a function of the request
        url = server.url("/items")

The builders below serve what the real systems send: a csv or an xlsx file, generic JSON pages
with each pagination style (``next`` link, page number, offset/limit, cursor), and Bitrix24's list
answers (``result``, ``total``, ``next``, ``time``) with its ``start`` paging of 50 and its
``filter[...]`` parameters. Only ever 127.0.0.1: no test sends traffic anywhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integrations.tests.files import xlsx_bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, [default])[0]


Route = Callable[[Request], Answer]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class FixtureServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                request = Request(
                    parts.path,
                    urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                server.requests.append(request)
                route = server.routes.get(parts.path)
                answer = route(request) if route else Answer(404, b"not found")
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that stops reading (a byte limit) is expected: no traceback on stderr.
        self.httpd.handle_error = lambda request, client_address: None
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *answers: Answer | Route) -> None:
        """Serve ``answers`` in turn at ``path`` (the last one again and again)."""
        queue = list(answers)

        def answer(request: Request) -> Answer:
            current = queue.pop(0) if len(queue) > 1 else queue[0]
            return current(request) if callable(current) else current

        self.routes[path] = answer

    def hits(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]


@contextlib.contextmanager
def serve() -> Iterator[FixtureServer]:
    server = FixtureServer()
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


@pytest.fixture(name="server")
def server_fixture() -> Iterator[FixtureServer]:
    """The fixture ``server``, for a test module that imports ``server_fixture``."""
    with serve() as running:
        yield running


@pytest.fixture(autouse=True, name="loopback_only")
def loopback_only_fixture(monkeypatch):
    """A DNS lookup of any name, or a connection outside 127.0.0.0/8, fails the test (autouse
    where imported): tests resolve names with a stub resolver, and this proves none got past it.
    """
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host, *args, **kwargs):
        try:
            ipaddress.ip_address(host)  # a literal: no lookup leaves the machine
        except ValueError:
            raise AssertionError(f"a test tried to look up {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        assert ipaddress.ip_address(address[0]) in LOOPBACK, f"a test tried to connect to {address[0]!r}"
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)


class Sleeps(list):
    """A fake ``sleep`` that records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- formats -------------------------------------------------------------------------------------


def json_answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


def csv_answer(text: str) -> Answer:
    return Answer(200, text.encode(), {"Content-Type": "text/csv; charset=utf-8"})


def xlsx_answer(rows: list[list[Any]]) -> Answer:
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Answer(200, xlsx_bytes(rows), {"Content-Type": content_type})


def _nest(path: str, value: Any) -> Any:
    for key in reversed(path.split(".")) if path else []:
        value = {key: value}
    return value


def paged_json(
    records: list[dict], *, style: str, page_size: int = 2, records_path: str = "data.items"
) -> Route:
    """Generic JSON pages, as APIs page them:

    * ``next``: ``{"data": {"items": [...]}, "links": {"next": "<absolute url or null>"}}``;
    * ``page``: ``?page=N`` (from 1) → ``{"data": {"items": [...]}}``, an empty list past the end;
    * ``offset``: ``?offset=K&limit=L`` → the slice;
    * ``cursor``: ``?cursor=C`` → ``{"data": {"items": [...]}, "meta": {"next_cursor": "C2" or null}}``.

    ``updated_since`` keeps the records whose ``updated_at`` is at or after it.
    """

    def answer(request: Request) -> Answer:
        since = request.param("updated_since")
        rows = [r for r in records if not since or str(r.get("updated_at", "")) >= since]
        body: dict[str, Any] = {}
        if style == "next":
            start = int(request.param("after", "0"))
            chunk = rows[start : start + page_size]
            more = start + page_size < len(rows)
            query = urllib.parse.urlencode(
                {**({"updated_since": since} if since else {}), "after": start + page_size}
            )
            body["links"] = {
                "next": f"http://{request.headers['host']}{request.path}?{query}" if more else None
            }
        elif style == "page":
            number = int(request.param("page", "1"))
            chunk = rows[(number - 1) * page_size : number * page_size]
        elif style == "offset":
            offset, limit = int(request.param("offset", "0")), int(request.param("limit", str(page_size)))
            chunk = rows[offset : offset + limit]
        elif style == "cursor":
            start = int(request.param("cursor") or "0")
            chunk = rows[start : start + page_size]
            more = start + page_size < len(rows)
            body["meta"] = {"next_cursor": str(start + page_size) if more else None}
        else:  # "none"
            chunk = rows
        body.update(_nest(records_path, chunk) if records_path else {})
        return json_answer(body if records_path else chunk)

    return answer


FILTER = re.compile(r"filter\[(?P<operator>>=|>|@|)(?P<field>\w+)\](\[\d*\])?")


def bitrix_list(records: list[dict]) -> Route:
    """A Bitrix24 ``crm.*.list`` method: pages of 50 from ``start``; ``filter[FIELD]``,
    ``filter[>=FIELD]``, ``filter[>FIELD]`` and ``filter[@FIELD][]`` (IN) applied; the answer
    ``{"result": [...], "next": 50, "total": 120, "time": {...}}`` (no ``next`` on the last page).
    """

    def matches(record: dict, params: dict[str, list[str]]) -> bool:
        for key, values in params.items():
            found = FILTER.fullmatch(key)
            if not found:
                continue
            operator, value = found["operator"], str(record.get(found["field"], ""))
            if operator == "@":
                ok = value in values
            elif operator == ">=":
                ok = value >= values[0]
            elif operator == ">":
                ok = value > values[0]
            else:
                ok = value == values[0]
            if not ok:
                return False
        return True

    def answer(request: Request) -> Answer:
        rows = [r for r in records if matches(r, request.params)]
        start = int(request.param("start", "0"))
        body: dict[str, Any] = {"result": rows[start : start + 50], "total": len(rows)}
        if start + 50 < len(rows):
            body["next"] = start + 50
        body["time"] = {"start": 1724677896.29, "finish": 1724677896.31, "duration": 0.02}
        return json_answer(body)

    return answer
