"""The supervisor of ``make run``: the web server, a Celery worker and Celery beat (PRODUCT X1).

``python -m kpi_platform.devserver`` (the Makefile runs it after migrate, collectstatic and
seed_demo) starts the three with the binaries of its own interpreter's virtualenv, writes what each
prints to ``var/log/<name>.log`` and shows on the terminal only their errors (with the name of who
printed them), and prints the URL and the demo sign-ins last, once the web server answers and the
worker is ready. They inherit the environment: ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and
Redis, as everywhere else.

Each child runs in a session of its own, so its process group holds everything it forks (gunicorn's
workers, the worker's pool), and the terminal's Ctrl-C reaches this supervisor only, which then
stops them in order. On SIGINT, SIGTERM or SIGHUP, or as soon as any child exits, every child gets
SIGTERM, and so does its group once the child is gone; any group with a process alive
``STOP_TIMEOUT`` seconds later gets SIGKILL, and a second Ctrl-C kills at once. On Linux a child
also gets SIGTERM should the supervisor itself be killed.

Hand-written rather than honcho: honcho 2.0 waits a fixed 5 s before SIGKILL, stops
signalling a group as soon as its leader has exited (anything the leader left in the group then
stays behind), and runs a helper process per child. Here a group counts as stopped only when no
process is left in it.
"""

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

HOST, PORT = "127.0.0.1", 8000
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SELF = "devserver"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_DIR = Path(__file__).resolve().parent.parent / "var" / "log"
# With a log directory, what still reaches the terminal of a child's output: errors and their
# tracebacks (start-up banners, access lines, INFO and WARNING go to the child's log file only).
SHOWN = re.compile(r"\b(ERROR|CRITICAL|FATAL|Error|Exception)\b|^Traceback ")
# The line each child prints once it serves (the worker: "celery@host ready.").
READY_LINES = {"worker": r"\bready\.\s*$"}


def app_commands(bin_dir: Path) -> dict[str, list[str]]:
    """The three processes of the app, run with the scripts next to the interpreter."""
    return {
        "web": [
            str(bin_dir / "gunicorn"),
            "kpi_platform.wsgi",
            f"--bind={HOST}:{PORT}",
            "--workers=2",
            "--graceful-timeout=5",  # well within STOP_TIMEOUT
            "--access-logfile=-",
        ],
        "worker": [
            str(bin_dir / "celery"),
            *("-A", "kpi_platform", "worker", "--loglevel=info", "--concurrency=2"),
        ],
        # The schedule file is settings.CELERY_BEAT_SCHEDULE_FILENAME, in var/.
        "beat": [str(bin_dir / "celery"), "-A", "kpi_platform", "beat", "--loglevel=info"],
    }


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the child SIGTERM when the supervisor dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the hook runs between fork and exec

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    reader: threading.Thread | None = field(default=None, repr=False)
    leader_terminated: bool = False
    group_terminated: bool = False
    ready: bool = True  # False until the child prints its ready line, where it has one
    in_traceback: bool = False

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the child leads its own process group

    def group_alive(self) -> bool:
        self.process.poll()  # reap the leader, or its zombie keeps the group alive
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        return True

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    def terminate(self) -> None:
        """SIGTERM to the leader first, which stops its own processes in order (gunicorn's workers,
        Celery's warm shutdown, which a SIGTERM to each pool process would cut short); once the
        leader is gone, SIGTERM to whatever it left in its group. Each at most once."""
        if self.process.poll() is None:
            if not self.leader_terminated:
                self.leader_terminated = True
                self.process.terminate()
        elif not self.group_terminated:
            self.group_terminated = True
            self.signal_group(signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        stop_timeout: float = STOP_TIMEOUT,
        out: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ready_lines: Mapping[str, str] | None = None,
    ):
        """``log_dir``: each child's whole output goes to ``<name>.log`` there, and only errors
        reach ``out``; ``ready_lines``: per child, a pattern of the line it prints once ready."""
        self.commands = commands
        self.log_dir = log_dir
        self.ready_lines = {name: re.compile(pattern) for name, pattern in (ready_lines or {}).items()}
        self.stop_timeout = stop_timeout
        self.out = out or sys.stdout
        # Python children would buffer what they print into a pipe.
        self.env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        self.children: list[Child] = []
        self._width = max(len(name) for name in [*commands, SELF])
        self._print_lock = threading.Lock()
        self._wake = threading.Event()
        self._signals = 0

    # --- output ---------------------------------------------------------------------------------------

    def say(self, text: str, name: str = SELF) -> None:
        with self._print_lock:
            for line in text.splitlines() or [""]:
                self.out.write(f"{name:<{self._width}} | {line}\n")
            self.out.flush()

    def _relay(self, child: Child) -> None:
        ready = self.ready_lines.get(child.name)
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = (self.log_dir / f"{child.name}.log").open("a", encoding="utf-8")
        try:
            for raw in child.process.stdout:
                line = raw.rstrip("\n")
                if ready is not None and ready.search(line):
                    child.ready = True
                if log is None:
                    self.say(line, child.name)
                    continue
                log.write(raw)
                log.flush()
                if self._shown(child, line):
                    self.say(line, child.name)
        finally:
            if log is not None:
                log.close()

    @staticmethod
    def _shown(child: Child, line: str) -> bool:
        """An error line, or a line of a traceback (its indented lines and the exception's)."""
        if line.startswith("Traceback "):
            child.in_traceback = True
            return True
        if child.in_traceback:
            child.in_traceback = line[:1].isspace()
            return True
        return SHOWN.search(line) is not None

    def all_ready(self) -> bool:
        return all(child.ready for child in self.children)

    # --- signals --------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame) -> None:
        self._signals += 1
        self._wake.set()

    @property
    def stop_requested(self) -> bool:
        return self._signals > 0

    # --- the run --------------------------------------------------------------------------------------

    def run(self, *, ready: Callable[[], bool] | None = None, banner: str | None = None) -> int:
        """Start every child, wait for a signal or for a child to exit, stop them all; the exit code."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            code = self._start()
            if code == 0:
                if banner:
                    self._announce_when_ready(ready, banner)
                code = self._watch()
            return code
        finally:
            self._stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self) -> int:
        preexec_fn = _die_with_parent_hook()
        for name, command in self.commands.items():
            if self.stop_requested:
                return 0
            try:
                process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                    list(command),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    bufsize=1,
                    env=self.env,
                    start_new_session=True,
                    preexec_fn=preexec_fn,  # safe: no thread runs yet (the readers start below)
                )
            except OSError as error:
                self.say(f"could not start {name}: {error}")
                return 1
            self.children.append(Child(name, process, ready=name not in self.ready_lines))
            logged = f"; its output in {self.log_dir / f'{name}.log'}" if self.log_dir is not None else ""
            self.say(f"started {name} (pid {process.pid}): {' '.join(command)}{logged}")
        for child in self.children:
            child.reader = threading.Thread(target=self._relay, args=(child,), daemon=True)
            child.reader.start()
        return 0

    def _announce_when_ready(self, ready: Callable[[], bool] | None, banner: str) -> None:
        def wait_then_print() -> None:
            deadline = time.monotonic() + 120
            while (ready is not None and not ready()) or not self.all_ready():
                if self.stop_requested or time.monotonic() > deadline:
                    return
                time.sleep(0.25)
            if not self.stop_requested:
                self.say(banner)

        threading.Thread(target=wait_then_print, daemon=True).start()

    def _watch(self) -> int:
        while not self.stop_requested:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.say(f"{child.name} exited with code {code}: stopping the others")
                    return exit_code_of(code)
            self._wake.wait(0.2)
        self.say("stop requested")
        return 0

    def _stop(self) -> None:
        alive = [child for child in self.children if child.group_alive()]
        for child in self.children:
            if child not in alive:  # exited before the stop (the child that caused it)
                self._report_stopped(child)
        if not alive:
            return
        self.say(f"stopping {', '.join(child.name for child in alive)} (SIGTERM)")
        started = time.monotonic()
        signals_before = self._signals
        self._wake.clear()
        killed_at = None
        while alive:
            elapsed = time.monotonic() - started
            if killed_at is None and (elapsed > self.stop_timeout or self._signals != signals_before):
                for child in alive:
                    self.say(f"{child.name} is still running after {elapsed:.1f} s: SIGKILL")
                    child.signal_group(signal.SIGKILL)
                killed_at = elapsed
            elif killed_at is not None and elapsed > killed_at + 5:
                for child in alive:  # only a zombie that nobody reaps, which no signal removes
                    self.say(f"{child.name}: process group {child.pgid} did not go away")
                return
            if killed_at is None:
                for child in alive:
                    child.terminate()
            self._wake.wait(0.1)
            for child in [child for child in alive if not child.group_alive()]:
                alive.remove(child)
                self._report_stopped(child, time.monotonic() - started)

    def _report_stopped(self, child: Child, after: float | None = None) -> None:
        if child.reader is not None:
            child.reader.join(timeout=2)  # its last lines first
        when = f" after {after:.1f} s" if after is not None else ""
        self.say(f"{child.name} stopped{when} (exit code {child.process.poll()})")


def exit_code_of(returncode: int) -> int:
    """An app process that ends by itself is a failure, even with code 0; -N: killed by signal N."""
    if returncode < 0:
        return 128 - returncode
    return returncode or 1


def port_open(host: str = HOST, port: int = PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(host: str = HOST, port: int = PORT) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def demo_banner() -> str:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpi_platform.settings.base")
    django.setup()
    from orgs.demo import sign_in_text

    stop = "Press Ctrl-C to stop the web server, the worker and beat."
    return f"{sign_in_text(f'http://{HOST}:{PORT}/')}\n{stop}"


def main() -> int:
    if not port_free():
        sys.stderr.write(f"{HOST}:{PORT} is in use: is another `make run` running? Stop it first.\n")
        return 1
    supervisor = Supervisor(
        app_commands(Path(sys.executable).parent), log_dir=LOG_DIR, ready_lines=READY_LINES
    )
    return supervisor.run(ready=port_open, banner=demo_banner())


if __name__ == "__main__":
    sys.exit(main())
