"""A company admin connects a CSV-at-URL source in a real browser (issue 20): creates it in the
admin, maps its columns, runs it, and sees the run's result; then the list shows its health."""

import os
import shutil
from pathlib import Path

import pytest

from integrations.models import ImportStatus, IntegrationSource
from integrations.tests.fixture_server import csv_answer, server_fixture  # noqa: F401  # the fixture "server"
from orgs.models import Role
from orgs.tenancy import company_context
from orgs.tests.admin_pages import sign_in_to_the_admin
from ratings.models import KpiAction

# PostgreSQL only, as the imports' browser tests: the live server's thread must read what the
# test's thread wrote.
pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "kpi-admin-2026"
# Where to copy the screenshots too, for a reviewer (``KPI_EXTRA_SHOTS=/tmp/shots-src``).
SHOTS = os.environ.get("KPI_EXTRA_SHOTS")
SHEET = (
    "user,kpi,value,occurred_at,deal\n"
    "ann@acme.example,calls,1,2026-02-01,D-1\n"
    "bob@acme.example,calls,2,2026-02-02,D-2\n"
)


@pytest.fixture
def shot(screenshot, artifacts_dir):
    """The project's screenshot, copied to ``KPI_EXTRA_SHOTS`` too when it is set."""

    def take(page, name: str) -> None:
        screenshot(page, name)
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(artifacts_dir) / f"{name}.png", Path(SHOTS) / f"{name}.png")

    return take


@pytest.mark.django_db(transaction=True)
def test_an_admin_connects_a_sheet_maps_its_columns_runs_it_and_sees_the_result(
    acme, make_member, browser_page, live_server, server, shot, eager, time_machine
):
    # given an admin, and a sheet of two rows published at a URL (on 127.0.0.1)
    time_machine.move_to("2026-03-01T12:00:00Z", tick=True)
    make_member(acme.company, Role.ADMIN, email="ada@acme.example", password=PASSWORD)
    server.route("/sheet.csv", csv_answer(SHEET))
    page = browser_page
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

    # when they add a CSV-at-URL source and map its columns
    page.goto(f"{live_server.url}/admin/integrations/integrationsource/add/")
    page.fill("#id_name", "Sales sheet")
    page.select_option("#id_kind", "csv_url")
    page.fill("#id_setting_csv_url_url", server.url("/sheet.csv"))
    page.fill("#id_setting_csv_url_id_column", "deal")
    page.fill("#id_mapping_person", "user")
    page.fill("#id_mapping_kpi", "kpi")
    page.fill("#id_mapping_value", "value")
    page.fill("#id_mapping_time", "occurred_at")
    shot(page, "sources_01_add")
    page.click("input[name=_continue]")

    # then the source's page opens, with a "Run now" button
    page.wait_for_selector("#source-run-now")
    shot(page, "sources_02_saved")
    with company_context(acme.company.id):
        source = IntegrationSource.objects.get()
    assert source.mapping["person"] == "user"

    # when they run it (the worker's code runs in the request: tasks are eager here)
    page.click("#source-run-now")

    # then the run's page (an import job's) shows its result
    page.wait_for_selector(".integrations-done")
    assert page.inner_text("#import-status h2") == "Succeeded"
    assert "Sales sheet" in page.inner_text(".integrations-facts")
    shot(page, "sources_03_run")
    with company_context(acme.company.id):
        assert KpiAction.objects.count() == 2
        assert source.runs.get().status == ImportStatus.SUCCEEDED

    # and the list of sources shows its health: the last run, its records
    page.goto(f"{live_server.url}/admin/integrations/integrationsource/")
    row = page.inner_text("#result_list tbody tr")
    assert "Succeeded" in row
    assert "Sales sheet" in row
    shot(page, "sources_04_list")

    # and the source's page lists the run among its recent ones
    page.click("#result_list tbody tr th a")
    page.locator(".integrations-runs").scroll_into_view_if_needed()
    assert "2 records" in page.inner_text(".integrations-runs")
    shot(page, "sources_05_recent_runs")
