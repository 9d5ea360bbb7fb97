"""Shared by the fault drills: a private Redis, the app's company and token, gunicorn, a worker.

Nothing here touches a shared server: the Redis is a ``redis-server`` of the caller's own (a unix
socket in a fresh folder, or a port on 127.0.0.1), stopped and removed by the caller.
"""

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")


class PrivateRedis:
    """A ``redis-server`` of the caller alone, without persistence: on a unix socket in a fresh
    folder, or (``port``) on 127.0.0.1 only. ``stop`` and ``start`` again keep the same address."""

    def __init__(self, port: int | None = None):
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.folder = Path(tempfile.mkdtemp(prefix="kpi-redis-"))
        self.socket = self.folder / "redis.sock"
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The address as ``REDIS_URL`` takes it (the cache and the broker): TCP ports only."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        if self.port is None:
            return redis.Redis(unix_socket_path=str(self.socket))
        return redis.Redis(host="127.0.0.1", port=self.port)

    def start(self) -> None:
        listen = ["--port", "0", "--unixsocket", str(self.socket)]
        if self.port is not None:
            listen = ["--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(  # noqa: S603 - Debian's redis-server, our arguments
            [
                REDIS_SERVER, *listen,
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client, deadline = self.client(), time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def app_environment(database_url: str, media: Path, **settings: str) -> dict:
    """The environment of the app's processes with the production settings (``settings`` added:
    ``REDIS_URL``, or ``CELERY_BROKER_DIR`` for the filesystem broker, and any other)."""
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="kpi_platform.settings.production",
        SECRET_KEY="fault-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        CONN_MAX_AGE="60",
        API_TOKEN_RATE="1000000/minute",  # noqa: S106 - a rate, not a password
        MEDIA_ROOT=str(media),
        LOG_LEVEL="ERROR",
    )
    env.update(settings)
    return env


def prepare(env: dict, company: str, people: int) -> str:
    """Migrate (as the owner), then the company ``company``, its people ``p<n>@<company>.example``,
    a KPI ``calls`` in the rating (1 point a unit) and an API token (``read``, ``actions``): the
    token's secret. Run in a fresh interpreter with ``env``."""
    base = {**env, "DJANGO_SETTINGS_MODULE": "kpi_platform.settings.base"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], env=base, check=True)
    script = f"""
import django
django.setup()
from kpis.services import kpi_create
from orgs.models import Role
from orgs.services import api_token_create, company_create, member_create
from orgs.tenancy import company_context
company, _ = company_create(slug={company!r}, name={company.title()!r}, time_zone="Europe/Moscow")
with company_context(company.id):
    member_create(email="admin@{company}.example", role=Role.ADMIN)
    for n in range({people}):
        member_create(email=f"p{{n}}@{company}.example")
    kpi_create(name={{"en": "Calls"}}, integration_name="calls", status="active", in_rating=True,
               rating_units="1", rating_points=1)
    print(api_token_create(name="fault", scopes=["read", "actions"]).secret)
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter, our script
        [sys.executable, "-c", script], env=base, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


def start_gunicorn(env: dict, port: int, workers: int, log: Path) -> subprocess.Popen:
    with open(log, "a") as output:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable, "-m", "gunicorn", "kpi_platform.wsgi",
                "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60",
                "--no-control-socket",  # gunicorn's per-user socket would be shared with other servers
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until_serving(port)
    return server


def wait_until_serving(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """A ``celery worker`` of the app (one process, ``--pool solo``), in a process group of its own
    so that ``kill_worker`` ends it as a whole; its output appended to ``log``."""
    with open(log, "a") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "kpi_platform",
                "worker",
                "--pool",
                "solo",
                "-l",
                "WARNING",
            ],
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL: no warm shutdown, no message given back, its database session cut."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
