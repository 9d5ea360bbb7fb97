"""Load: the production stack under a mix of action posts, rating reads and dashboard views.

    .venv/bin/python -m bench.load [--duration 120] [--clients 8] [--workers 4] [--people 10000]
                                   [--actions 500000] [--new-data] [--port 8078]

Against a dedicated database, ``kpi_bench_load`` on the local PostgreSQL (``BENCH_LOAD_DATABASE_URL``
to change it; the name must contain ``bench`` and must not be the ratings benchmarks' database),
built once by ``bench.ratings_data`` at ``--people``/``--actions`` (again with ``--new-data``), and
the Redis ``BENCH_LOAD_REDIS_URL`` (default ``redis://127.0.0.1:6379/7``: cache, token throttle,
the health check's broker). Then:

  1. sign-in people with passwords, one per client, by role in turn: a company admin, a department
     manager, a team lead, a member; and one API token per client (scopes ``actions``, ``read``);
  2. ``collectstatic`` and gunicorn as the Dockerfile runs them, with ``kpi_platform.settings.
     production`` (DEBUG off, a random SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, the access log on;
     ``--workers`` sync workers on 127.0.0.1:``--port``). The driver stands in for the TLS proxy in
     front of it: it sends ``X-Forwarded-Proto: https`` and ``X-Forwarded-For``, so the production
     settings stay as they are (SSL redirect, secure cookies, CSRF's referer check all on). The
     one setting changed is ``API_TOKEN_RATE`` (``--token-rate``): a client here stands for many
     integrations and would otherwise be throttled at 1,200 requests a minute; the throttle still
     runs on every request;
  3. a second process, the driver, with ``--clients`` threads, each with its own connection
     (gunicorn's sync workers close it after each answer, so every request pays its connect):
     signs in through the login form (CSRF token from the page), warms up, then
       * reference: ``GET /healthz`` (a database query and a Redis ping) from every client for
         ``--reference`` seconds: what this stack serves on this machine at all;
       * the mix for ``--duration`` seconds, closed loop (each client sends its next request when
         the last is answered): single-action posts, batches of 2-20 actions (unique external ids,
         a connection error retries the same batch, as an integration would), ``GET
         /api/v1/ratings/`` over periods and scopes, and the pages of the client's role
         (dashboards, leaderboard, Home, a profile) with its session;
  4. prints requests/s, p50/p95/p99 per kind and overall, the errors by status (anything but the
     expected 201/200, and connection errors), the ratio mix/reference, and the server log's
     tracebacks and the workers' peak RSS;
  5. checks: the actions recorded with the run's external ids are exactly the ones acknowledged
     (created, or duplicate on a retry) — none lost, none doubled, none unacknowledged; the daily
     totals of the keys the run wrote equal their actions' sums; and ``aggregates_rebuild()``
     (rolled back) corrects 0 rows.
Exits 1 if a check fails or any 5xx was answered. Goal (issue 8): p95 of action posts <= 300 ms.
"""

import argparse
import datetime
import html
import http.client
import http.cookies
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kpi_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
PASSWORD = "load-bench-2026"  # noqa: S105 - the bench people's password, in the bench database only
ROLES = ("admin", "manager", "lead", "member")
# The mix: kind -> weight.
MIX = {"action post": 40, "action batch": 10, "ratings read": 30, "page": 20}
EXPECTED = {"action post": 201, "action batch": 201, "ratings read": 200, "page": 200, "healthz": 200}
PERIODS = ("week", "month", "quarter", "year", "all")
GOAL_POST_P95 = 0.300
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- The plan: who the clients are and what they may ask for ---------------------------------------


@dataclass
class ClientPlan:
    email: str
    role: str
    token: str
    pages: list[str]


@dataclass
class Plan:
    host: str
    port: int
    run: str
    clients: list[ClientPlan]
    kpis: list[list]  # [integration name, department id or None]
    people: list[str]  # external ids of everyone
    people_by_department: dict[int, list[str]]
    scopes: list[str]
    forwarded: bool  # send the TLS proxy's headers
    seed: int = 1


def load_plan(
    company, *, clients: int, host: str, port: int, run: str, forwarded: bool, seed: int = 1
) -> Plan:
    """Sign-in people (a password each), one API token per client, and what each may read, from
    ``company``'s own organization (it needs departments with teams and people, and KPIs in the
    rating)."""
    from kpis.models import Kpi
    from orgs.models import Department, Member, Role, Team
    from orgs.services import api_token_create, department_set_managers, member_create, team_set_leads
    from orgs.tenancy import company_context

    rng = random.Random(seed)
    with company_context(company.id):
        kpis = [
            [kpi.integration_name, kpi.department_id if kpi.level == "department" else None]
            for kpi in Kpi.objects.filter(status="active", in_rating=True).order_by("id")
        ]
        people, by_department = [], defaultdict(list)
        for department_id, external_id in Member.objects.exclude(external_id="").values_list(
            "department_id", "external_id"
        ):
            people.append(external_id)
            by_department[department_id].append(external_id)
        departments = list(Department.objects.order_by("id"))
        teams = list(Team.objects.order_by("id"))
        plans, taken = [], set()

        def first_free(people) -> Member:
            member = people.select_related("user").exclude(user_id__in=taken).first()
            taken.add(member.user_id)
            return member

        for n in range(clients):
            role = ROLES[n % len(ROLES)]
            if role == "admin":
                email = f"load-admin-{n}@bench.example"
                member = Member.objects.select_related("user").filter(user__email=email).first()
                if member is None:
                    member = member_create(
                        email=email, first_name="Load", last_name=f"Admin {n}", role=Role.ADMIN
                    )
                pages = [
                    "/dashboards/company/?period=month",
                    "/dashboards/company/?period=week",
                    "/leaderboard/",
                ]
            elif role == "manager":
                department = departments[n % len(departments)]
                member = first_free(Member.objects.filter(department=department).order_by("user_id"))
                department_set_managers(department=department, managers=[member])
                base = f"/dashboards/departments/{department.id}/"
                pages = [
                    f"{base}?period=month",
                    f"{base}?period=quarter",
                    f"/leaderboard/?scope=department:{department.id}",
                ]
            elif role == "lead":
                team = teams[n % len(teams)]
                member = first_free(Member.objects.filter(team=team).order_by("-user_id"))
                team_set_leads(team=team, leads=[member])
                base = f"/dashboards/teams/{team.id}/"
                pages = [f"{base}?period=month", f"{base}?period=year", f"/leaderboard/?scope=team:{team.id}"]
            else:
                member = first_free(
                    Member.objects.filter(team__isnull=False, role=Role.MEMBER).order_by("user_id")
                )
                pages = ["/", "/leaderboard/?period=month", f"/people/{member.user_id}/"]
            user = member.user
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
            token = api_token_create(name=f"load {run} client {n}", scopes=["actions", "read"]).secret
            plans.append(ClientPlan(email=user.email, role=role, token=token, pages=pages))
    scopes = ["company"]
    scopes += [f"department:{d.id}" for d in rng.sample(departments, min(5, len(departments)))]
    scopes += [f"team:{t.id}" for t in rng.sample(teams, min(5, len(teams)))]
    return Plan(
        host=host,
        port=port,
        run=run,
        clients=plans,
        kpis=kpis,
        people=people,
        people_by_department=dict(by_department),
        scopes=scopes,
        forwarded=forwarded,
        seed=seed,
    )


# --- The driver ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client (or all, merged) saw: latencies and statuses per label."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter = field(default_factory=Counter)  # "<kind>: <status or exception>" -> count
    acknowledged: list[str] = field(default_factory=list)  # external ids answered created/duplicate
    created: int = 0
    duplicates: int = 0
    retries: int = 0
    elapsed: float = 0.0

    def merge(self, other: "Tally") -> None:
        for label, samples in other.latencies.items():
            self.latencies[label].extend(samples)
        for label, counts in other.statuses.items():
            self.statuses[label].update(counts)
        self.errors.update(other.errors)
        self.acknowledged.extend(other.acknowledged)
        self.created += other.created
        self.duplicates += other.duplicates
        self.retries += other.retries
        self.elapsed = max(self.elapsed, other.elapsed)


class Client:
    """One connection, a session cookie and a token; ``exchange`` times one request and answer.

    The connection is kept alive where the server allows; gunicorn's sync workers answer with
    ``Connection: close``, so there each request's time includes its connect, as for any client."""

    def __init__(self, plan: Plan, me: ClientPlan, number: int):
        self.plan, self.me, self.number = plan, me, number
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.rng = random.Random(plan.seed * 1000 + number)
        self.sequence = 0

    def _headers(self, extra: dict) -> dict:
        headers = {"Host": f"{self.plan.host}:{self.plan.port}", **extra}
        if self.plan.forwarded:  # what the TLS proxy in front of gunicorn adds
            headers["X-Forwarded-Proto"] = "https"
            headers["X-Forwarded-For"] = "127.0.0.1"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def exchange(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, body, seconds); reconnects on the next call after a connection error."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.plan.host, self.plan.port, timeout=60)
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=self._headers(headers or {}))
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, data, elapsed

    def sign_in(self) -> None:
        """Through the login form, as a browser: the page's CSRF token, then the post."""
        status, page, _ = self.exchange("GET", "/accounts/login/")
        match = CSRF_INPUT.search(page.decode())
        if status != 200 or match is None:
            raise RuntimeError(f"login page: {status}")
        scheme = "https" if self.plan.forwarded else "http"
        form = urlencode(
            {
                "csrfmiddlewaretoken": html.unescape(match.group(1)),
                "username": self.me.email,
                "password": PASSWORD,
            }
        )
        status, _, _ = self.exchange(
            "POST",
            "/accounts/login/",
            form.encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"{scheme}://{self.plan.host}:{self.plan.port}/accounts/login/",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in of {self.me.email}: {status}")

    def items(self, count: int) -> list[dict]:
        """``count`` valid actions with external ids unique to the run, client and item."""
        now = datetime.datetime.now(datetime.UTC)
        items = []
        for _ in range(count):
            kpi, department_id = self.rng.choice(self.plan.kpis)
            pool = (
                self.plan.people if department_id is None else self.plan.people_by_department[department_id]
            )
            moment = now - datetime.timedelta(seconds=self.rng.randrange(30 * 86400))
            self.sequence += 1
            items.append(
                {
                    "kpi": kpi,
                    "user": self.rng.choice(pool),
                    "value": f"{self.rng.randint(1, 20)}.{self.rng.randrange(100):02d}",
                    "occurred_at": moment.isoformat(timespec="seconds"),
                    "external_id": f"load-{self.plan.run}-{self.number}-{self.sequence}",
                }
            )
        return items

    def one(self, kind: str, tally: Tally) -> None:
        """One request of ``kind``, recorded in ``tally``."""
        if kind in ("action post", "action batch"):
            items = self.items(1 if kind == "action post" else self.rng.randint(2, 20))
            body = json.dumps(items[0] if kind == "action post" else items).encode()
            headers = {"Authorization": f"Bearer {self.me.token}", "Content-Type": "application/json"}
            self._send(kind, kind, "POST", "/api/v1/actions/", body, headers, tally, retries=3)
        elif kind == "ratings read":
            query = {"period": self.rng.choice(PERIODS), "scope": self.rng.choice(self.plan.scopes)}
            headers = {"Authorization": f"Bearer {self.me.token}"}
            self._send(kind, kind, "GET", f"/api/v1/ratings/?{urlencode(query)}", None, headers, tally)
        elif kind == "page":
            self.page(self.rng.choice(self.me.pages), tally)
        else:
            self._send(kind, kind, "GET", "/healthz", None, {}, tally)

    def page(self, path: str, tally: Tally) -> None:
        self._send("page", f"page {page_label(path)}", "GET", path, None, {}, tally)

    def _send(self, kind, label, method, path, body, headers, tally: Tally, retries: int = 0) -> None:
        for attempt in range(retries + 1):
            try:
                status, data, elapsed = self.exchange(method, path, body, headers)
            except (OSError, http.client.HTTPException) as error:
                tally.errors[f"{kind}: {type(error).__name__}"] += 1
                tally.retries += attempt < retries
                continue
            tally.latencies[label].append(elapsed)
            tally.statuses[label][status] += 1
            if status != EXPECTED[kind]:
                tally.errors[f"{kind}: {status}"] += 1
            elif method == "POST":
                answer = json.loads(data)
                tally.created += answer["created"]
                tally.duplicates += answer["duplicates"]
                tally.acknowledged.extend(result["external_id"] for result in answer["results"])
            return


def page_label(path: str) -> str:
    """``/dashboards/departments/12/?period=month`` -> ``department dashboard, month``."""
    where, _, query = path.partition("?")
    period = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("period", "")
    parts = where.strip("/").split("/")
    if parts[0] == "dashboards":
        name = {"company": "company", "departments": "department", "teams": "team"}[parts[1]] + " dashboard"
    elif parts[0] == "leaderboard":
        scope = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("scope", "company")
        name = f"leaderboard, {scope.split(':')[0]}"
    elif parts[0] == "people":
        name = "profile"
    else:
        name = "home"
    return f"{name}, {period}" if period else name


def run_phase(clients: list[Client], kinds: dict[str, int], seconds: float) -> Tally:
    """Every client sends requests of ``kinds`` (weights) for ``seconds``, closed loop."""
    tallies = [Tally() for _ in clients]
    names, weights = list(kinds), list(kinds.values())

    def work(client: Client, tally: Tally, deadline: float) -> None:
        while time.perf_counter() < deadline:
            client.one(client.rng.choices(names, weights)[0], tally)

    started = time.perf_counter()
    threads = [
        threading.Thread(target=work, args=(client, tally, started + seconds))
        for client, tally in zip(clients, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    total.elapsed = time.perf_counter() - started
    return total


def drive(plan: Plan, duration: float, reference: float) -> tuple[Tally, Tally, Tally]:
    """Sign every client in, warm up (one client after the other: each of its pages once, each kind
    twice), then the reference phase and the mix. Returns (warm-up, reference, mix): the warm-up's
    figures are not reported, its errors and acknowledged actions are."""
    clients = [Client(plan, me, n) for n, me in enumerate(plan.clients)]
    warmup = Tally()
    for client in clients:
        client.sign_in()
        for path in client.me.pages:
            client.page(path, warmup)
        for kind in (*MIX, *MIX):
            client.one(kind, warmup)
    reference_tally = run_phase(clients, {"healthz": 1}, reference) if reference > 0 else Tally()
    mix_tally = run_phase(clients, MIX, duration)
    return warmup, reference_tally, mix_tally


def _drive_process(plan: Plan, duration: float, reference: float, results) -> None:
    try:
        results.put(("ok", drive(plan, duration, reference)))
    except Exception as error:  # reported by the parent, which exits non-zero
        results.put(("error", repr(error)))


# --- The report ------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 by the nearest rank: the smallest sample at or above that share of them."""
    ordered = sorted(samples)
    if not ordered:
        return (0.0, 0.0, 0.0)
    picked = []
    for percent in (50, 95, 99):
        rank = max(1, -(-len(ordered) * percent // 100))  # ceil(n * percent / 100)
        picked.append(ordered[rank - 1])
    return tuple(picked)


def report_lines(tally: Tally) -> list[str]:
    """One line per label, per kind (labels grouped by their kind) and overall: requests, requests/s,
    p50/p95/p99, errors."""

    def line(name: str, samples: list[float], errors: int) -> str:
        p50, p95, p99 = percentiles(samples)
        rate = len(samples) / tally.elapsed if tally.elapsed else 0.0
        return (
            f"  {name:<38} {len(samples):>7,} {rate:>8.1f}/s  p50 {p50 * 1000:7.1f}  p95 {p95 * 1000:7.1f}"
            f"  p99 {p99 * 1000:7.1f} ms  errors {errors}"
        )

    def kind_of(label: str) -> str:
        return "page" if label.startswith("page ") else label

    lines = []
    kinds = defaultdict(list)
    for label in sorted(tally.latencies):
        kinds[kind_of(label)].append(label)
    for kind, labels in kinds.items():
        samples = [s for label in labels for s in tally.latencies[label]]
        errors = sum(count for key, count in tally.errors.items() if key.split(":")[0] == kind)
        lines.append(line(kind, samples, errors))
        if len(labels) > 1 or labels[0] != kind:
            for label in labels:
                bad = sum(n for status, n in tally.statuses[label].items() if status != EXPECTED[kind])
                lines.append(line(f"  {label.removeprefix('page ')}", tally.latencies[label], bad))
    everything = [s for samples in tally.latencies.values() for s in samples]
    lines.append(line("all", everything, sum(tally.errors.values())))
    return lines


def server_errors(tally: Tally) -> int:
    return sum(n for key, n in tally.errors.items() if key.rsplit(" ", 1)[-1].startswith("5"))


# --- The checks ------------------------------------------------------------------------------------


@dataclass
class Recorded:
    rows: int  # actions in the database with the run's external ids
    acknowledged: int  # distinct external ids answered created or duplicate
    lost: int  # acknowledged, not in the database
    unacknowledged: int  # in the database, never acknowledged
    doubled: int  # rows beyond one per external id, and ids acknowledged twice

    @property
    def ok(self) -> bool:
        return self.rows == self.acknowledged and not (self.lost or self.unacknowledged or self.doubled)


def check_recorded(run: str, answered: list[str]) -> Recorded:
    """The run's actions in the database against the external ids the server acknowledged
    (``answered``, each as often as it was answered); in the company's context."""
    from ratings.models import KpiAction

    rows = list(
        KpiAction.objects.filter(external_id__startswith=f"load-{run}-").values_list("external_id", flat=True)
    )
    recorded, acknowledged = set(rows), set(answered)
    return Recorded(
        rows=len(rows),
        acknowledged=len(acknowledged),
        lost=len(acknowledged - recorded),
        unacknowledged=len(recorded - acknowledged),
        doubled=len(rows) - len(recorded) + len(answered) - len(acknowledged),
    )


def check_aggregates(run: str) -> tuple[int, int, int]:
    """(daily keys written by the run, those differing from their actions' sums, rows a rebuild
    corrects); the rebuild is rolled back. In the company's context."""
    from django.db import transaction

    from bench.ratings_ingest import check_daily_totals
    from orgs.tenancy import current_company_id
    from ratings.services import aggregates_rebuild

    keys, differing = check_daily_totals(current_company_id(), f"load-{run}")
    with transaction.atomic():
        corrected = aggregates_rebuild().corrected
        transaction.set_rollback(True)
    return keys, differing, corrected


# --- The server ------------------------------------------------------------------------------------


def production_env(url: str, redis: str, token_rate: str) -> dict:
    return dict(
        os.environ,
        DATABASE_URL=url,
        REDIS_URL=redis,
        DJANGO_SETTINGS_MODULE="kpi_platform.settings.production",
        SECRET_KEY="bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1",
        CONN_MAX_AGE="600",
        API_TOKEN_RATE=token_rate,
    )


def peak_rss_mb(pids: list[str]) -> float:
    from bench.ratings_ingest import peak_rss_kb

    return max((peak_rss_kb(int(pid)) for pid in pids), default=0) / 1024


def wait_healthy(host: str, port: int) -> None:
    for _ in range(150):
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz with 200")


def database_url() -> tuple[str, str]:
    url = os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL)
    name = url.rsplit("/", 1)[1]
    if not url.startswith("postgres") or "bench" not in name or name.startswith("kpi_bench_ratings"):
        sys.exit(f"Refusing {url}: the load benchmark uses its own database, whose name contains 'bench'.")
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "kpi_platform.settings.base"
    os.environ.setdefault("CONN_MAX_AGE", "600")
    return url, os.environ.get("BENCH_LOAD_REDIS_URL", DEFAULT_REDIS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=120, help="seconds of the mix (default 120)")
    parser.add_argument("--reference", type=float, default=15, help="seconds of the /healthz reference")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (the Dockerfile's 4)")
    parser.add_argument("--port", type=int, default=8078)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--actions", type=int, default=500_000)
    parser.add_argument(
        "--new-data", action="store_true", help="rebuild the database even if it has the data"
    )
    parser.add_argument("--token-rate", default="100000/minute", help="API_TOKEN_RATE of the server")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url, redis = database_url()
    host = "127.0.0.1"

    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    from bench._common import COMPANY_SLUG, bench_company, django_setup

    django_setup()
    from django.db import connection

    from orgs.models import Company

    if args.new_data or not exists or not Company.objects.filter(slug=COMPANY_SLUG).exists():
        connection.close()
        from bench.ratings_data import build

        build(url, people=args.people, actions=args.actions, seed=args.seed)
    from orgs.tenancy import company_context
    from ratings.models import KpiAction

    company = bench_company()
    run = uuid.uuid4().hex[:8]
    with company_context(company.id):
        actions_before = KpiAction.objects.count()
    plan = load_plan(
        company, clients=args.clients, host=host, port=args.port, run=run, forwarded=True, seed=args.seed
    )
    print(
        f"load on PostgreSQL: {name}, {actions_before:,} actions, {len(plan.people):,} people;"
        f" redis {redis}; "
        f"gunicorn {args.workers} workers (production settings); {args.clients} clients "
        f"({', '.join(f'{n} {r}' for r, n in Counter(c.role for c in plan.clients).items())}); run {run}"
    )
    env = production_env(url, redis, args.token_rate)
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"], env=env, check=True)
    print(f"  collectstatic (production storage): {time.perf_counter() - started:.1f} s")
    log_path = os.path.join(tempfile.gettempdir(), f"bench_load_gunicorn_{args.port}.log")
    log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "gunicorn",
            "kpi_platform.wsgi",
            "--bind",
            f"{host}:{args.port}",
            "--workers",
            str(args.workers),
            "--access-logfile",
            "-",
            "--timeout",
            "120",
            # gunicorn's control socket defaults to one path per user: another gunicorn on the
            # machine (a second benchmark, `make run`) would share it.
            "--no-control-socket",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(host, args.port)
        print(f"  load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        driver = context.Process(target=_drive_process, args=(plan, args.duration, args.reference, results))
        driver.start()
        outcome, value = results.get(timeout=args.duration + args.reference + 600)
        driver.join()
        load = os.getloadavg()
        workers = subprocess.run(  # noqa: S603
            ["pgrep", "-P", str(server.pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        rss = peak_rss_mb(workers)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    if outcome != "ok":
        raise SystemExit(f"the driver failed: {value}")
    warmup, reference, mix = value
    with open(log_path) as server_log:
        text = server_log.read()
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in load)}")
    reference_rate = (
        sum(len(s) for s in reference.latencies.values()) / reference.elapsed if reference.elapsed else 0
    )
    mix_rate = sum(len(s) for s in mix.latencies.values()) / mix.elapsed
    print(f"reference, GET /healthz for {reference.elapsed:.0f} s:")
    print("\n".join(report_lines(reference)) if reference.elapsed else "  (skipped)")
    print(f"the mix for {mix.elapsed:.0f} s (requests, requests/s, latency):")
    print("\n".join(report_lines(mix)))
    if reference_rate:
        print(f"  ratio mix / reference: {mix_rate / reference_rate:.2f}")
    print(f"  errors by kind and status: {dict(mix.errors) or 'none'}; retried posts {mix.retries}")
    if warmup.errors or reference.errors:
        print(f"  errors while warming up: {dict(warmup.errors)}; in the reference: {dict(reference.errors)}")
    print(
        f"  server log: {text.count('Traceback')} tracebacks, {text.lower().count('deadlock')} deadlocks;"
        f" workers' peak RSS {rss:.0f} MB (log: {log_path})"
    )
    posts = mix.latencies["action post"] + mix.latencies["action batch"]
    post_p95 = percentiles(posts)[1]
    failures = []
    print(
        f"  action posts p95 {post_p95 * 1000:.1f} ms: "
        + ("ok" if post_p95 <= GOAL_POST_P95 else "over the 300 ms goal")
    )
    if fives := sum(server_errors(tally) for tally in (warmup, reference, mix)):
        failures.append(f"{fives} answers 5xx")

    posted = Tally()  # every action post of the run: the warm-up's and the mix's
    posted.merge(warmup)
    posted.merge(mix)
    with company_context(company.id):
        recorded = check_recorded(run, posted.acknowledged)
        started = time.perf_counter()
        keys, differing, corrected = check_aggregates(run)
    print(
        f"check: {recorded.acknowledged:,} actions acknowledged, warm-up included"
        f" ({posted.created:,} created,"
        f" {posted.duplicates:,} duplicates, {posted.retries} posts retried), {recorded.rows:,} recorded:"
        f" {recorded.lost} lost, {recorded.unacknowledged} recorded unacknowledged,"
        f" {recorded.doubled} doubled"
    )
    print(
        f"check: {keys:,} daily totals the run wrote, {differing} differ from their actions' sums;"
        f" aggregates_rebuild() corrects {corrected} rows"
        f" ({time.perf_counter() - started:.1f} s, rolled back)"
    )
    if not recorded.ok or (posted.duplicates and not posted.retries):
        failures.append("the recorded actions are not exactly the acknowledged ones")
    if differing or corrected:
        failures.append("aggregates differ from the actions")
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))
    print("ok: no 5xx, every acknowledged action recorded once, aggregates consistent")


if __name__ == "__main__":
    main()
