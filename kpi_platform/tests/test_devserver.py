"""The supervisor of `make run` leaves no process behind (PRODUCT X1).

It runs here with stand-in children (sh and sleep), in a process of its own, as `make run` runs it.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpi_platform.devserver import exit_code_of

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SUPERVISE = """
import json, sys
from kpi_platform.devserver import Supervisor
sys.exit(Supervisor(json.loads(sys.argv[1]), stop_timeout=float(sys.argv[2])).run())
"""
# A child that forks (as gunicorn and the Celery worker do) and one that ignores SIGTERM.
FORKING = ["sh", "-c", "sleep 60 & sleep 60 & echo up; wait"]
STUBBORN = ["sh", "-c", "trap '' TERM; sleep 60 & echo up; wait"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")


class Supervised:
    def __init__(self, tmp_path: Path, commands: dict[str, list[str]], stop_timeout: float = 10):
        self.log = tmp_path / "supervisor.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own test command
                [sys.executable, "-c", SUPERVISE, json.dumps(commands), str(stop_timeout)],
                cwd=BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the test's signals reach the supervisor only
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.output(), re.MULTILINE)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in:\n{self.output()}")

    def child_groups(self, count: int) -> list[int]:
        """The children's process group ids (each leads its own), once each child is up."""
        self.wait_for(r"\| up$", count)
        return [int(pid) for pid in self.wait_for(r"started \w+ \(pid (\d+)\)", count)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pgids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_alive(pgid) for pgid in pgids):
        time.sleep(0.05)
    return [pgid for pgid in pgids if group_alive(pgid)]


@pytest.fixture
def supervised(tmp_path):
    started: list[Supervised] = []

    def start(commands, stop_timeout: float = 10) -> Supervised:
        started.append(Supervised(tmp_path, commands, stop_timeout))
        return started[-1]

    yield start
    for supervisor in started:  # never leave a stand-in behind, even when a test fails
        supervisor.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_child_and_what_it_forked(supervised, signum):
    # given two children that have forked
    supervisor = supervised({"one": FORKING, "two": FORKING})
    groups = supervisor.child_groups(2)
    # when the supervisor is told to stop (SIGINT: Ctrl-C)
    supervisor.process.send_signal(signum)
    # then it exits cleanly, and no process of any group is left
    assert supervisor.process.wait(timeout=15) == 0
    assert wait_gone(groups, timeout=1) == []
    assert "one stopped" in supervisor.output()
    assert "two stopped" in supervisor.output()


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(supervised):
    # given a child deaf to SIGTERM, and a stop timeout of one second
    supervisor = supervised({"deaf": STUBBORN, "fine": FORKING}, stop_timeout=1)
    groups = supervisor.child_groups(2)
    # when
    supervisor.process.send_signal(signal.SIGTERM)
    # then
    assert supervisor.process.wait(timeout=15) == 0
    assert wait_gone(groups, timeout=1) == []
    assert re.search(r"deaf is still running after 1\.\d s: SIGKILL", supervisor.output())


def test_when_a_child_exits_the_others_are_stopped(supervised):
    # given
    supervisor = supervised({"long": FORKING, "short": ["sh", "-c", "echo up; sleep 0.5; exit 3"]})
    groups = supervisor.child_groups(2)
    # when the short one exits by itself, then the supervisor stops and fails with its code
    assert supervisor.process.wait(timeout=15) == 3
    assert wait_gone(groups, timeout=1) == []
    assert "short exited with code 3: stopping the others" in supervisor.output()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_children_stop_when_the_supervisor_itself_is_killed(supervised):
    # given a child that stops on SIGTERM
    supervisor = supervised({"plain": ["sh", "-c", "echo up; exec sleep 60"]})
    (group,) = supervisor.child_groups(1)
    # when the supervisor is killed, with no chance to clean up
    os.kill(supervisor.process.pid, signal.SIGKILL)
    supervisor.process.wait()
    # then the kernel gives the child SIGTERM
    assert wait_gone([group], timeout=5) == []


def test_a_missing_program_stops_what_started(supervised):
    supervisor = supervised({"one": FORKING, "missing": ["/nonexistent/program"]})
    assert supervisor.process.wait(timeout=15) == 1
    assert "could not start missing" in supervisor.output()
    pgids = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", supervisor.output())]
    assert wait_gone(pgids, timeout=1) == []


@pytest.mark.parametrize(("returncode", "expected"), [(3, 3), (0, 1), (-9, 137), (-15, 143)])
def test_the_exit_code_says_why_a_child_ended(returncode, expected):
    assert exit_code_of(returncode) == expected


LOGGED = """
import json, sys
from pathlib import Path
from kpi_platform.devserver import Supervisor
ready = {"worker": r"ready\\.$"}
supervisor = Supervisor(json.loads(sys.argv[1]), log_dir=Path(sys.argv[2]), ready_lines=ready)
sys.exit(supervisor.run(ready=lambda: True, banner="Open http://127.0.0.1:8000/"))
"""


def test_chatter_goes_to_the_log_files_errors_to_the_terminal_and_the_sign_ins_come_last(tmp_path):
    """Issue 18 (11): `make run` shows the children's errors and tracebacks, keeps the rest of what
    they print in var/log/<name>.log, and prints the URL once the worker says it is ready."""
    worker = (
        "echo 'celery banner'; echo 'WARNING running as root'; sleep 0.5; echo 'ERROR: no broker';"
        " printf 'Traceback (most recent call last):\\n  File x\\nValueError: bad\\nafter\\n';"
        " sleep 0.5; echo 'celery@host ready.'; sleep 60"
    )
    commands = {"web": ["sh", "-c", "echo '[INFO] Listening'; sleep 60"], "worker": ["sh", "-c", worker]}
    log = tmp_path / "terminal.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own test command
            [sys.executable, "-c", LOGGED, json.dumps(commands), str(tmp_path / "logs")],
            cwd=BASE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while "Open http" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        terminal = log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    shown = [line.split("| ", 1)[1] for line in terminal.splitlines() if line.startswith("worker")]
    assert shown == ["ERROR: no broker", "Traceback (most recent call last):", "  File x", "ValueError: bad"]
    assert not [line for line in terminal.splitlines() if line.startswith("web")]
    assert terminal.rstrip().endswith("Open http://127.0.0.1:8000/")
    worker_log = (tmp_path / "logs" / "worker.log").read_text()
    assert "celery banner" in worker_log
    assert "celery@host ready." in worker_log
    assert "[INFO] Listening" in (tmp_path / "logs" / "web.log").read_text()
