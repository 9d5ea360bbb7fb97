"""Fault drills (issue 8): a worker killed 20 times mid-import, requests cut off, Redis stopped 60 s.

Not part of CI. Three drills, each with its figures and PASS/FAIL checks; exit status 1 if any
check fails:

1. ``kills`` — a real ``celery worker`` (``--pool solo``, as ``integrations/tests/test_worker.py``
   starts it) takes an uploaded import of ``--rows`` actions (half with an external id, half
   without: those get the id derived from the file, R4); ``--kills`` times in a row, once the
   job's progress is past a random chunk and the job is not finished, the worker is killed with
   SIGKILL and a new one started. The drill stands in for beat's sweep (``imports_resume_stale``,
   every 5 minutes in production) and runs it every second, with ``IMPORT_STALE_SECONDS=5`` (so a
   dropped job is sent again within seconds, not 15 minutes) and ``IMPORT_MAX_ATTEMPTS=kills+5``
   (production gives a job up after 3 interrupted runs); both are set for the drill's processes
   only. Checks: the job succeeded, every row of the file recorded exactly once (by its explicit or
   derived external id), the daily totals equal to the file's sum and ``aggregates_rebuild()``
   (rolled back) correcting nothing.
2. ``cuts`` — gunicorn (production settings) takes ``--actions`` actions with unique external ids,
   singles and batches of 2-10, from ``--clients`` client threads. A random ``--cut-share`` of the
   requests (retries too) is cut by the client: the socket closed right after the request was sent,
   or after reading part of the answer; the client then sends the same body again (same external
   ids) until it reads a whole 200/201 answer. Checks: exactly ``--actions`` actions stored under
   the run's ids, none twice, every batch's last answer accounting for each of its items, no 5xx,
   the daily totals equal to their actions and ``aggregates_rebuild()`` correcting nothing.
3. ``redis`` — gunicorn and a worker on a private ``redis-server``; clients post batches of actions
   and read the leaderboard all along; ``/healthz`` is polled every second; Redis is stopped for
   ``--redis-down`` seconds (default 60) and started again; an upload is tried while it is down and
   after it returns (every second until accepted), and that import is followed to its end. Checks:
   every action acknowledged (201) is stored, once; the posts during the outage were recorded;
   ``/healthz`` answered 503 at every poll while Redis was down and 200 again after, within 60 s;
   the upload during the outage was refused with 503 ``queue_unavailable``; the import uploaded
   after the return succeeded within 60 s of it, each row once; posts per second after the return
   at least half of those before.

Everything runs against a database recreated for the run, ``kpi_bench_faults`` on the local
PostgreSQL (``BENCH_FAULTS_DATABASE_URL``; its name must contain ``bench``), and a ``redis-server``
of the drill's own on 127.0.0.1:``--redis-port`` (6392), never the shared one; gunicorn listens on
127.0.0.1:``--port`` (8792)::

    .venv/bin/python -m bench.faults [--drills kills,cuts,redis] [--kills 20] [--rows 30000]
        [--actions 10000] [--cut-share 0.2] [--redis-down 60] [--clients 4] [--workers 2]

(``make fault-drills``).
"""

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg

from bench._stack import (
    PrivateRedis,
    app_environment,
    kill_worker,
    prepare,
    start_gunicorn,
    start_worker,
    stop_process,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kpi_bench_faults"
PEOPLE = 20
STALE_SECONDS = 5
CLIENT_TIMEOUT = 30.0
YESTERDAY = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
OCCURRED_AT = f"{YESTERDAY}T10:00:00+03:00"


def report(title: str, figures: list[str], checks: dict[str, bool]) -> bool:
    print(f"\n== {title}")
    for line in figures:
        print(f"  {line}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return all(checks.values())


# --- HTTP, with the client cutting its own connection -----------------------------------------------


def parse_answer(raw: bytes) -> tuple[int, dict | None]:
    """(status, JSON body or None) of a whole HTTP/1.1 answer read to its end; (0, None) if it is
    not one (a connection closed before the status line)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0, None
    headers = head.decode("latin-1").lower()
    data = json.loads(body) if "content-type: application/json" in headers and body else None
    return int(parts[1]), data


def send(
    port: int, secret: str, method: str, path: str, body: bytes = b"", cut: str = ""
) -> tuple[int, dict | None]:
    """One request on a new connection (``Connection: close``). ``cut``: ``"sent"`` closes the
    socket as soon as the request is sent, ``"partial"`` after reading part of the answer; both
    return (0, None), as a client that gave up knows nothing of the outcome."""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as conn:
            conn.sendall(request)
            if cut == "sent":
                return 0, None
            if cut == "partial":
                conn.recv(random.randint(1, 120))
                return 0, None
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError:
        return 0, None
    return parse_answer(b"".join(chunks))


# --- Drill 1: the worker killed mid-import ---------------------------------------------------------


def kill_drill(env: dict, folder: Path, kills: int, rows: int, rng: random.Random) -> bool:
    from django.core.cache import cache
    from django.core.files.base import ContentFile
    from django.db import connection, transaction

    from integrations.models import ImportJob, ImportStatus
    from integrations.progress import progress_key
    from integrations.services import import_job_create, imports_resume_stale
    from integrations.tests.files import ACTION_HEADER, csv_bytes
    from orgs.models import Company, Member
    from orgs.tenancy import company_context
    from ratings.models import DailyTotal, KpiAction
    from ratings.services import aggregates_rebuild

    company = Company.objects.get(slug="drill-kill")
    lines = [ACTION_HEADER] + [
        [
            f"p{n % PEOPLE}@drill-kill.example",
            "calls",
            str(n % 7 + 1),
            YESTERDAY,
            "" if n % 2 else f"kill-{n}",
            "",
        ]
        for n in range(rows)
    ]
    expected_sum = sum(n % 7 + 1 for n in range(rows))
    log = folder / "worker.log"
    stop, resent = threading.Event(), []

    def sweep() -> None:  # what beat's imports_sweep does every 5 minutes in production
        try:
            while not stop.wait(1):
                with company_context(company.id):
                    resent.extend(imports_resume_stale())
        finally:
            connection.close()

    def job() -> ImportJob:
        with company_context(company.id):
            return ImportJob.objects.get(id=job_id)

    started = time.perf_counter()
    worker = start_worker(env, log)
    sweeper = threading.Thread(target=sweep)
    landed, at_kill = 0, []
    try:
        with company_context(company.id):
            admin = Member.objects.get(user__email="admin@drill-kill.example")
            upload = ContentFile(csv_bytes(lines), name="drill-kill.csv")
            job_id = import_job_create(file=upload, actor=admin).id
        sweeper.start()
        chunk = 0  # rows per progress step: the first step the job publishes
        for round_number in range(kills):
            # Past a random chunk boundary with at least one chunk to go: killed while recording it.
            target, deadline = 0, time.monotonic() + 300
            while time.monotonic() < deadline:
                current = job()
                progress = cache.get(progress_key(job_id)) or (0, 0)
                if current.is_finished:
                    break
                if current.attempts > round_number and progress[0] > 0:
                    chunk = chunk or progress[0]
                    target = target or rng.randrange(1, max(-(-rows // chunk), 2)) * chunk
                    if progress[0] >= target:
                        break
                time.sleep(0.02)
            progress = cache.get(progress_key(job_id)) or (0, 0)
            kill_worker(worker)
            after = job()
            mid_file = 0 < progress[0] < rows and not after.is_finished
            landed += mid_file
            at_kill.append(progress[0])
            cache.delete(progress_key(job_id))  # the next run publishes its own
            worker = start_worker(env, log)
        deadline = time.monotonic() + 600
        while not job().is_finished and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        if sweeper.is_alive():
            sweeper.join()
        stop_process(worker)
    seconds = time.perf_counter() - started

    finished = job()
    with company_context(company.id):
        actions = KpiAction.objects.filter(company=company)
        stored = actions.count()
        distinct = actions.values("external_id").distinct().count()
        explicit = actions.filter(external_id__startswith="kill-").count()
        derived = actions.filter(external_id__startswith="file:").count()
        daily_sum = sum(DailyTotal.objects.values_list("value", flat=True), Decimal(0))
        with transaction.atomic():
            corrected = aggregates_rebuild().corrected
            transaction.set_rollback(True)
    figures = [
        f"{rows:,} rows (half with an external id, half derived from the file); {kills} SIGKILLs in a row, "
        f"{landed} mid-file (progress at each kill: {', '.join(f'{p:,}' for p in at_kill)})",
        f"job {finished.status} after {finished.attempts} runs; sent again by the sweep {len(resent)} times; "
        f"total {seconds:.0f} s",
        f"rows recorded {stored:,} (distinct external ids {distinct:,}: {explicit:,} explicit + {derived:,} "
        f"derived), duplicates {stored - distinct}; daily totals sum {daily_sum} (file: {expected_sum}); "
        f"aggregates_rebuild corrects {corrected}",
    ]
    checks = {
        f"{kills} kills, every one mid-file (progress > 0, job not finished)": landed == kills,
        "the job succeeded, its last run recording every row": (
            finished.status == ImportStatus.SUCCEEDED
            and finished.created == rows
            and finished.duplicates == 0
        ),
        f"every row recorded exactly once ({stored:,} rows, {distinct:,} distinct ids, file {rows:,})": (
            stored == distinct == explicit + derived == rows and explicit == (rows + 1) // 2
        ),
        "aggregates consistent (daily totals = the file's sum, a rebuild corrects 0)": (
            daily_sum == expected_sum and corrected == 0
        ),
    }
    return report("Drill 1: the worker killed with SIGKILL mid-import", figures, checks)


# --- Drill 2: requests cut off and retried --------------------------------------------------------


@dataclass
class CutTally:
    requests: int = 0
    cut: Counter = field(default_factory=Counter)  # "sent" / "partial"
    statuses: Counter = field(default_factory=Counter)  # whole answers
    created: int = 0
    duplicates: int = 0
    acknowledged: list[str] = field(default_factory=list)
    incomplete: int = 0  # batches whose last answer did not account for each of their items
    refused: int = 0  # batches answered 4xx (other than 429): given up
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_batches(run: str, actions: int, rng: random.Random) -> list[list[dict]]:
    """Singles (40 %) and batches of 2-10, ``actions`` in all, each with its own external id."""
    batches, n = [], 0
    while n < actions:
        size = min(1 if rng.random() < 0.4 else rng.randint(2, 10), actions - n)
        batches.append(
            [
                {
                    "kpi": "calls",
                    "user": f"p{(n + k) % PEOPLE}@drill-cut.example",
                    "value": str((n + k) % 5 + 1),
                    "occurred_at": OCCURRED_AT,  # sent again as it was: same id, same content (R4)
                    "external_id": f"cut-{run}-{n + k}",
                }
                for k in range(size)
            ]
        )
        n += size
    return batches


def post_until_answered(
    port: int, secret: str, batch: list[dict], share: float, tally: CutTally, rng
) -> None:
    body = json.dumps(batch[0] if len(batch) == 1 else batch).encode()
    while True:
        cut = rng.choice(("sent", "partial")) if rng.random() < share else ""
        status, data = send(port, secret, "POST", "/api/v1/actions/", body, cut)
        with tally.lock:
            tally.requests += 1
            if cut:
                tally.cut[cut] += 1
            else:
                tally.statuses[status] += 1
        if 400 <= status < 500 and status != 429:
            with tally.lock:
                tally.refused += 1  # not worth sending again: the check below fails
            return
        if status in (200, 201):
            results = data["results"]
            with tally.lock:
                tally.created += data["created"]
                tally.duplicates += data["duplicates"]
                tally.acknowledged.extend(result["external_id"] for result in results)
                tally.incomplete += sorted(r["external_id"] for r in results) != sorted(
                    item["external_id"] for item in batch
                )
            return
        if not cut:
            time.sleep(0.2)


def cut_drill(env: dict, folder: Path, port: int, args, rng: random.Random) -> bool:
    from django.db import transaction

    from bench.ratings_ingest import check_daily_totals
    from orgs.models import Company
    from orgs.tenancy import company_context
    from ratings.models import KpiAction
    from ratings.services import aggregates_rebuild

    secret = prepare(env, "drill-cut", PEOPLE)
    server = start_gunicorn(env, port, args.workers, folder / "gunicorn-cuts.log")
    run = uuid.uuid4().hex[:8]
    batches = make_batches(run, args.actions, rng)
    tally, queue = CutTally(), list(reversed(batches))
    queue_lock = threading.Lock()

    def client(seed: int) -> None:
        client_rng = random.Random(seed)
        while True:
            with queue_lock:
                if not queue:
                    return
                batch = queue.pop()
            post_until_answered(port, secret, batch, args.cut_share, tally, client_rng)

    started = time.perf_counter()
    try:
        threads = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop_process(server)
    seconds = time.perf_counter() - started

    company = Company.objects.get(slug="drill-cut")
    with company_context(company.id):
        ids = list(
            KpiAction.objects.filter(external_id__startswith=f"cut-{run}-").values_list(
                "external_id", flat=True
            )
        )
        keys, differing = check_daily_totals(company.id, f"cut-{run}")
        with transaction.atomic():
            corrected = aggregates_rebuild().corrected
            transaction.set_rollback(True)
    wanted = {item["external_id"] for batch in batches for item in batch}
    cut = sum(tally.cut.values())
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    figures = [
        f"{args.actions:,} actions in {len(batches):,} posts (singles and batches of 2-10), "
        f"{args.clients} clients, {args.workers} gunicorn workers, {seconds:.0f} s",
        f"requests {tally.requests:,}: cut off {cut:,} ({cut / tally.requests:.1%}: "
        f"{tally.cut['sent']:,} right after sending, {tally.cut['partial']:,} mid-answer), "
        f"retries {tally.requests - len(batches):,}",
        f"whole answers by status: {dict(sorted(tally.statuses.items()))}",
        f"answered created {tally.created:,} + duplicates {tally.duplicates:,} (recorded by a request whose "
        f"answer was cut off)",
        f"stored {len(ids):,} (distinct {len(set(ids)):,}), doubled {len(ids) - len(set(ids))}; daily keys "
        f"{keys:,}, differing from their actions {differing}; aggregates_rebuild corrects {corrected}",
    ]
    checks = {
        f"exactly {args.actions:,} stored, none twice, each one posted": (
            len(ids) == len(set(ids)) == args.actions and set(ids) == wanted
        ),
        "every post ended with a whole 200/201 answer accounting for each of its actions": (
            tally.incomplete == tally.refused == 0 and sorted(tally.acknowledged) == sorted(wanted)
        ),
        f"requests were cut off ({cut:,}) and no 5xx answered ({server_errors})": cut > 0
        and server_errors == 0,
        "aggregates equal their actions (daily totals, a rebuild corrects 0)": differing == 0
        and corrected == 0,
    }
    return report(
        f"Drill 2: {args.cut_share:.0%} of requests cut off by the client and retried", figures, checks
    )


# --- Drill 3: Redis stopped under traffic ---------------------------------------------------------


@dataclass
class Traffic:
    port: int
    secret: str
    started: float
    stop: threading.Event = field(default_factory=threading.Event)
    posts: list[tuple[float, int]] = field(default_factory=list)  # (answered at, status)
    reads: Counter = field(default_factory=Counter)
    acknowledged: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.perf_counter() - self.started

    def client(self, number: int) -> None:
        sent = 0
        while not self.stop.is_set():
            batch = [
                {
                    "kpi": "calls",
                    "user": f"p{(sent + k) % PEOPLE}@drill-redis.example",
                    "value": "1",
                    "occurred_at": OCCURRED_AT,
                    "external_id": f"redis-{number}-{sent + k}",
                }
                for k in range(5)
            ]
            sent += 5
            status, data = send(
                self.port, self.secret, "POST", "/api/v1/actions/", json.dumps(batch).encode()
            )
            with self.lock:
                self.posts.append((self.now(), status))
                if status == 201:
                    self.acknowledged.extend(result["external_id"] for result in data["results"])
            if sent % 20 == 0:
                status, _ = send(self.port, self.secret, "GET", "/api/v1/ratings/?period=all&limit=10")
                with self.lock:
                    self.reads[status] += 1

    def poll_health(self, polls: list[tuple[float, float, int]]) -> None:
        while not self.stop.is_set():
            began = self.now()
            status, _ = send(self.port, "", "GET", "/healthz")
            polls.append((began, self.now(), status))
            self.stop.wait(max(0.0, 1 - (self.now() - began)))


def upload(port: int, secret: str, content: bytes) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="after.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    try:
        conn.request("POST", "/api/v1/imports/", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError):
        return 0, None
    finally:
        conn.close()


def health_checks(polls: list[tuple[float, float, int]], down_at: float, up_at: float) -> dict:
    """``/healthz`` against the outage: the polls wholly inside it, the first 200 after it and
    whether every poll from then on was 200. ``polls``: (sent at, answered at, status)."""
    during = [status for began, ended, status in polls if began >= down_at and ended <= up_at]
    after = [(ended, status) for began, ended, status in polls if began >= up_at]
    healthy_at = next((ended for ended, status in after if status == 200), None)
    return {
        "during": Counter(during),
        "all_503_during": bool(during) and all(status == 503 for status in during),
        "healthy_at": healthy_at,
        "stayed_healthy": healthy_at is not None
        and all(s == 200 for ended, s in after if ended >= healthy_at),
    }


def rate(posts: list[tuple[float, int]], start: float, end: float) -> float:
    """Posts answered 201 per second between ``start`` and ``end``."""
    return sum(1 for at, status in posts if start <= at < end and status == 201) / max(end - start, 1e-9)


def redis_drill(env: dict, folder: Path, redis: PrivateRedis, port: int, args) -> bool:
    from integrations.tests.files import ACTION_HEADER, csv_bytes
    from orgs.models import Company
    from orgs.tenancy import company_context
    from ratings.models import KpiAction

    secret = prepare(env, "drill-redis", PEOPLE)
    server = start_gunicorn(env, port, args.workers, folder / "gunicorn-redis.log")
    worker = start_worker(env, folder / "worker-redis.log")
    file_rows = 1000
    content = csv_bytes(
        [ACTION_HEADER]
        + [
            [f"p{n % PEOPLE}@drill-redis.example", "calls", "1", YESTERDAY, f"redis-file-{n}", ""]
            for n in range(file_rows)
        ]
    )
    traffic = Traffic(port, secret, time.perf_counter())
    polls: list[tuple[float, float, int]] = []
    threads = [threading.Thread(target=traffic.client, args=(n,)) for n in range(args.clients)]
    threads.append(threading.Thread(target=traffic.poll_health, args=(polls,)))
    timeline: dict[str, float | None] = {}
    job: dict | None = None
    try:
        for thread in threads:
            thread.start()
        time.sleep(args.warmup)
        redis.stop()
        timeline["down"] = traffic.now()
        time.sleep(min(5, args.redis_down / 2))
        refused = upload(port, secret, content)
        time.sleep(max(0.0, timeline["down"] + args.redis_down - traffic.now()))
        redis.start()
        timeline["up"] = up = traffic.now()
        accepted = (0, None)
        while accepted[0] != 202 and traffic.now() < up + 120:
            accepted = upload(port, secret, content)
            if accepted[0] != 202:
                time.sleep(1)
        timeline["upload accepted"] = traffic.now() if accepted[0] == 202 else None
        while accepted[0] == 202 and traffic.now() < up + 180:
            status, job = send(port, secret, "GET", f"/api/v1/imports/{accepted[1]['id']}/")
            if status == 200 and job["status"] in ("succeeded", "failed"):
                timeline[f"job {job['status']}"] = traffic.now()
                break
            time.sleep(0.25)
        time.sleep(max(0.0, up + args.after - traffic.now()))
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        stop_process(worker)
        stop_process(server)
    end = traffic.now()

    company = Company.objects.get(slug="drill-redis")
    with company_context(company.id):
        ids = list(
            KpiAction.objects.filter(external_id__startswith="redis-").values_list("external_id", flat=True)
        )
    stored = Counter(ids)
    acknowledged = set(traffic.acknowledged)
    lost = acknowledged - set(stored)
    doubled = sum(n - 1 for n in stored.values())
    file_stored = sum(1 for key in stored if key.startswith("redis-file-"))
    down, up = timeline["down"], timeline["up"]
    health = health_checks(polls, down, up)
    timeline["first healthy"] = health["healthy_at"]
    during_posts = Counter(status for at, status in traffic.posts if down <= at <= up)
    before, during, after = (
        rate(traffic.posts, 0, down),
        rate(traffic.posts, down, up),
        rate(traffic.posts, up, end),
    )
    succeeded_at = timeline.get("job succeeded")
    shown = ", ".join(
        f"{name} {at:.1f} s" + (f" (up +{at - up:.1f} s)" if name not in ("down", "up") else "")
        for name, at in sorted(timeline.items(), key=lambda item: item[1] or 0)
        if at is not None
    )
    refused_code = [e.get("code") for e in (refused[1] or {}).get("errors", [])]
    figures = [
        f"{args.clients} clients posting batches of 5 actions (+ a leaderboard read every 4th post); "
        f"Redis down {up - down:.1f} s; {end:.0f} s in all",
        f"timeline: {shown}",
        f"/healthz while down: {dict(health['during'])}; polls in all {len(polls)}",
        f"posts: {len(traffic.posts):,}, by status {dict(Counter(s for _, s in traffic.posts))}; during the "
        f"outage {dict(during_posts)}; reads {dict(traffic.reads)}",
        f"posts answered 201 per second: before {before:.1f}, during {during:.1f}, after {after:.1f}",
        f"upload while down: {refused[0]} {refused_code}; after: {job and job['status']}, "
        f"{file_stored:,} of its {file_rows:,} rows stored",
        f"actions acknowledged {len(acknowledged):,}, stored {len(stored) - file_stored:,}, "
        f"lost {len(lost)}, doubled {doubled}",
    ]
    checks = {
        "no acknowledged action lost, none twice": not lost and not doubled,
        "actions posted during the outage were recorded (every post answered 201)": (
            during_posts.get(201, 0) > 0 and set(during_posts) == {201}
        ),
        "/healthz answered 503 at every poll while Redis was down": health["all_503_during"],
        "/healthz 200 again within 60 s of the return, and from then on": (
            health["healthy_at"] is not None and health["healthy_at"] - up <= 60 and health["stayed_healthy"]
        ),
        "an upload while down was refused with 503 queue_unavailable": (
            refused[0] == 503 and refused_code == ["queue_unavailable"]
        ),
        "an import uploaded after the return succeeded within 60 s of it, each row once": (
            succeeded_at is not None and succeeded_at - up <= 60 and file_stored == file_rows
        ),
        "posts per second after the return at least half of before": after >= before / 2,
    }
    return report(f"Drill 3: Redis stopped for {args.redis_down:.0f} s under traffic", figures, checks)


# --- The run ---------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--drills", default="kills,cuts,redis", help="which, comma separated (default all three)"
    )
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the worker in a row (default 20)")
    parser.add_argument("--rows", type=int, default=30_000, help="rows of the killed import (default 30,000)")
    parser.add_argument(
        "--actions", type=int, default=10_000, help="actions of the cut-off drill (default 10,000)"
    )
    parser.add_argument("--cut-share", type=float, default=0.2, help="requests cut off (default 0.2)")
    parser.add_argument("--redis-down", type=float, default=60, help="seconds Redis is stopped (default 60)")
    parser.add_argument("--warmup", type=float, default=10, help="traffic before Redis stops (default 10 s)")
    parser.add_argument("--after", type=float, default=75, help="traffic after Redis returns (default 75 s)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--port", type=int, default=8792, help="gunicorn's port on 127.0.0.1 (default 8792)")
    parser.add_argument(
        "--redis-port", type=int, default=6392, help="the private Redis's port (default 6392)"
    )
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    drills = set(args.drills.split(","))
    url = os.environ.get("BENCH_FAULTS_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres") or "bench" not in url.rsplit("/", 1)[1]:
        sys.exit(f"Refusing {url}: the drills use a database whose name contains 'bench'.")

    folder = Path(tempfile.mkdtemp(prefix="kpi-faults-"))
    redis = PrivateRedis(port=args.redis_port)
    redis.start()
    results: list[bool] = []
    try:
        recreate_database(url)
        env = app_environment(
            url,
            folder / "media",
            REDIS_URL=redis.url,
            IMPORT_STALE_SECONDS=str(STALE_SECONDS),
            IMPORT_MAX_ATTEMPTS=str(args.kills + 5),
        )
        print(
            f"Database {url.rsplit('/', 1)[1]} (recreated), Redis {redis.url} (private), "
            f"gunicorn 127.0.0.1:{args.port}; load average {os.getloadavg()[0]:.1f}"
        )
        prepare(env, "drill-kill", PEOPLE)
        os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "kpi_platform.settings.base"})
        import django

        django.setup()
        rng = random.Random(args.seed)
        if "kills" in drills:
            results.append(kill_drill(env, folder, args.kills, args.rows, rng))
        if "cuts" in drills:
            results.append(cut_drill(env, folder, args.port, args, rng))
        if "redis" in drills:
            results.append(redis_drill(env, folder, redis, args.port, args))
        print(
            f"\n{'PASS' if all(results) else 'FAIL'}: {sum(results)} of {len(results)} drills passed "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        sys.exit(0 if all(results) else 1)
    finally:
        redis.remove()
        if results and all(results):
            shutil.rmtree(folder, ignore_errors=True)
        else:  # the servers' logs, to see why
            shutil.rmtree(folder / "media", ignore_errors=True)
            print(f"Logs kept in {folder}")


if __name__ == "__main__":
    main()
