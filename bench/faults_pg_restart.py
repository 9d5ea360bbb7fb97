"""PostgreSQL restarted under load (issue 8, faults): requests fail cleanly, then succeed again.

Not part of CI: it starts its OWN throwaway PostgreSQL 15 cluster (``initdb`` into a fresh temporary
folder as the ``postgres`` OS user, listening only on a unix socket in that folder, never on a
network address), migrates a database there, creates a company with people, a KPI in the rating
and an API token, and serves the app with gunicorn and the production settings on 127.0.0.1:8791
(persistent database connections, ``CONN_MAX_AGE``, so stale ones must be noticed too). Client
threads post batches of actions (each with its external ids) and read the leaderboard; midway the
cluster is restarted with ``pg_ctl restart -m fast``, which ends every session and refuses new ones
until it is back. A client retries a refused batch with the same external ids, as an integration
would (R4 makes the retry safe).

It prints, for the periods before, during and after the outage, the status codes seen and the
slowest answer; then the checks, each PASS or FAIL:

* requests during the outage failed cleanly: 503 with the API's JSON error body (never a 500, an
  HTML page, a traceback or a dropped connection), and none hung (each answered within the
  client's timeout);
* requests succeed after the restart;
* the actions acknowledged (201) equal the actions in the database at the end, none twice.

Run it as root (it switches to the ``postgres`` OS user for the cluster) on a machine with
PostgreSQL 15's binaries in /usr/lib/postgresql/15/bin::

    .venv/bin/python -m bench.faults_pg_restart [--seconds 24] [--restart-at 8] [--clients 4] [--port 8791]

(``make fault-pg-restart``). Exit status 0 when every check passes.
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench._stack import app_environment, prepare, start_gunicorn, stop_process

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PORT = 8791
DATABASE = "kpi_fault"
COMPANY = "fault"
PEOPLE = 20
BATCH = 5
CLIENT_TIMEOUT = 15.0  # seconds: an answer slower than this counts as hung


def as_postgres(*command: str, log: Path) -> None:
    """Run a PostgreSQL program as the ``postgres`` OS user, its output appended to ``log`` (a
    server it starts must not inherit a pipe of ours, or waiting for the program never ends)."""
    with open(log, "a") as output:
        subprocess.run(  # noqa: S603 - fixed programs, our arguments
            ["runuser", "-u", "postgres", "--", *command],  # noqa: S607 - util-linux's runuser
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


class Cluster:
    """A PostgreSQL cluster in a temporary folder, reachable only through its unix socket there."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="kpi-pgfault-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        shutil.chown(self.folder, "postgres", "postgres")
        self.folder.chmod(0o755)

    def init_and_start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.folder} -c max_connections=50"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.run("createdb", "-h", str(self.folder), DATABASE)

    def restart(self) -> float:
        started = time.perf_counter()
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart")
        return time.perf_counter() - started

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def run(self, program: str, *arguments: str) -> None:
        as_postgres(str(PG_BIN / program), *arguments, log=self.folder / "commands.log")

    @property
    def url(self) -> str:
        return f"postgres://postgres@/{DATABASE}?host={self.folder}"


@dataclass
class Answer:
    at: float
    method: str
    status: int  # 0: no HTTP answer (connection refused, reset or timed out)
    seconds: float
    clean: bool


@dataclass
class Load:
    secret: str
    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.perf_counter)

    def request(self, conn, method: str, path: str, body: bytes | None) -> tuple[int, dict | None]:
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        began = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status, content_type = response.status, response.getheader("Content-Type", "")
        except (OSError, http.client.HTTPException):
            conn.close()  # the next request opens a new connection
            status, raw, content_type = 0, b"", ""
        seconds = time.perf_counter() - began
        data = None
        if content_type.startswith("application/json"):
            data = json.loads(raw)
        clean = status in (200, 201) or (
            status == 503
            and data is not None
            and [error.get("code") for error in data.get("errors", [])] == ["service_unavailable"]
            and b"Traceback" not in raw
        )
        with self.lock:
            self.answers.append(Answer(began - self.started, method, status, seconds, clean))
        return status, data

    def client(self, number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        sent = 0
        pending: list[dict] | None = None
        # Once stopped, a client still sends its refused batch again until it is taken.
        while not self.stop.is_set() or (pending and time.perf_counter() - self.started < 600):
            if pending is None:
                pending = [
                    {
                        "kpi": "calls",
                        "user": f"p{(sent + k) % PEOPLE}@fault.example",
                        "value": "1",
                        "external_id": f"fault-{number}-{sent + k}",
                    }
                    for k in range(BATCH)
                ]
                sent += BATCH
            status, data = self.request(conn, "POST", "/api/v1/actions/", json.dumps(pending).encode())
            if status == 201:
                with self.lock:
                    self.acknowledged.update(result["external_id"] for result in data["results"])
                pending = None
            else:
                time.sleep(0.2)  # then the same batch again, same external ids (Retry-After)
            self.request(conn, "GET", "/api/v1/ratings/?period=all&limit=10", None)


def stored_actions(cluster: Cluster) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(host=str(cluster.folder), dbname=DATABASE, user="postgres") as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT external_id) FROM ratings_kpiaction"
            " WHERE external_id LIKE 'fault-%%'"
        ).fetchone()
    return total, distinct


def describe(answers: list[Answer]) -> str:
    if not answers:
        return "no requests"
    statuses = Counter(answer.status for answer in answers)
    slowest = max(answer.seconds for answer in answers)
    shown = ", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(statuses.items()))
    return f"{len(answers):6d} requests  {shown}  slowest {slowest * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=24, help="length of the load (default 24)")
    parser.add_argument("--restart-at", type=float, default=8, help="seconds into the load (default 8)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--port", type=int, default=PORT, help=f"gunicorn's port on 127.0.0.1 (default {PORT})"
    )
    args = parser.parse_args()
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        sys.exit(f"Run as root with PostgreSQL's binaries in {PG_BIN} (PG_BIN to change it).")

    cluster = Cluster()
    server = None
    log_path = cluster.folder / "gunicorn.log"
    try:
        print(f"Cluster in {cluster.folder} (unix socket only); gunicorn on 127.0.0.1:{args.port}")
        cluster.init_and_start()
        env = app_environment(
            cluster.url, cluster.folder / "media", CELERY_BROKER_DIR=str(cluster.folder / "broker")
        )
        secret = prepare(env, COMPANY, PEOPLE)
        server = start_gunicorn(env, args.port, args.workers, log_path)

        load = Load(secret, args.port)
        threads = [threading.Thread(target=load.client, args=(n,)) for n in range(args.clients)]
        load.started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.restart_at)
        restart_began = time.perf_counter() - load.started
        restart_seconds = cluster.restart()
        restart_ended = time.perf_counter() - load.started
        time.sleep(max(args.seconds - restart_ended, 0))
        load.stop.set()
        for thread in threads:
            thread.join(timeout=120)

        answers = sorted(load.answers, key=lambda answer: answer.at)
        failed = [answer for answer in answers if answer.status not in (200, 201)]
        recovered_at = next(
            (a.at + a.seconds for a in answers if a.at >= restart_ended and a.status in (200, 201)), None
        )
        back = recovered_at if recovered_at is not None else float("inf")
        before = [a for a in answers if a.at + a.seconds < restart_began]
        during = [a for a in answers if a.at + a.seconds >= restart_began and a.at < back]
        after = [a for a in answers if a.at >= back]
        total, distinct = stored_actions(cluster)

        print(f"Load: {args.clients} clients, each posting {BATCH} actions then reading the leaderboard")
        print(
            f"Restart at {restart_began:.1f} s (pg_ctl restart -m fast: {restart_seconds:.2f} s); "
            + (f"first success after it at {recovered_at:.1f} s" if recovered_at else "no success after it")
        )
        print(f"  before  {describe(before)}")
        print(f"  during  {describe(during)}")
        print(f"  after   {describe(after)}")
        unclean = [a for a in answers if not a.clean]
        hung = [a for a in answers if a.seconds >= CLIENT_TIMEOUT]
        checks = {
            "the restart happened under load (requests failed during it)": bool(failed),
            "every failure was clean: a 503 JSON error, no 500, no traceback, none dropped": not unclean,
            f"no request hung (every answer within {CLIENT_TIMEOUT:.0f} s)": not hung,
            "every request after the first success succeeded": bool(after)
            and all(a.status in (200, 201) for a in after),
            f"actions acknowledged ({len(load.acknowledged)}) == stored ({total}), none twice ({distinct})": (
                len(load.acknowledged) == total == distinct
            ),
        }
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")
        if unclean:
            print(f"  unclean answers: {Counter((a.method, a.status) for a in unclean)}")
        sys.exit(0 if all(checks.values()) else 1)
    finally:
        stop_process(server)
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
