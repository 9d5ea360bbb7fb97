"""The production profile passes Django's deployment checklist with no warning (issue #3, item 2)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Set by the browser tests' fixture while they run; never part of a deployment.
NOT_INHERITED = {"DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY"}


def _manage_in_production(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    environment.update(
        DJANGO_SETTINGS_MODULE="kpi_platform.settings.production", ALLOWED_HOSTS="kpi.example.com", **env
    )
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_profile_passes_check_deploy_with_no_warnings():
    # DEBUG=true: the profile must not let the environment switch DEBUG on
    result = _manage_in_production(
        "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), DEBUG="true"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_profile_refuses_to_start_without_a_secret_key():
    result = _manage_in_production("check")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
