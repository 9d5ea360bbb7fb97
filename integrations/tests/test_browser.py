"""A company admin imports a file in a real browser and watches it run (PRODUCT I3): the upload
answers at once, the job's page polls its progress bar (htmx) while the worker's code runs, and
the result replaces it without a reload."""

import pytest

from integrations import services
from integrations.models import ImportJob, ImportStatus
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes
from orgs.models import Role
from orgs.tenancy import company_context
from ratings.models import KpiAction

# PostgreSQL only: the test database of the SQLite run is in memory, shared between the test's and
# the live server's threads with table locks, so the page cannot read the job while it runs.
pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "kpi-admin-2026"
ROWS = 60


@pytest.mark.django_db(transaction=True)
def test_an_admin_uploads_a_file_and_watches_the_progress_bar_then_the_result(
    acme, make_member, browser_page, live_server, screenshot, monkeypatch, tmp_path
):
    # given an admin who signs in, and a file of 60 actions, checked 10 rows at a time
    make_member(acme.company, Role.ADMIN, email="ada@acme.example", password=PASSWORD)
    path = tmp_path / "actions.csv"
    rows = [ACTION_HEADER] + [
        ["ann@acme.example", "calls", "1", YESTERDAY, f"b-{n}", ""] for n in range(ROWS)
    ]
    path.write_bytes(csv_bytes(rows))
    monkeypatch.setattr(services, "IMPORT_CHUNK", 10)
    # The worker is this test's thread (below), so that it can stop between chunks while the
    # browser polls; the upload only queues.
    monkeypatch.setattr(services, "_enqueue_on_commit", lambda job: None)
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada@acme.example")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    # when they upload it (no "check only")
    page.goto(f"{live_server.url}/admin/integrations/importjob/add/")
    page.set_input_files("#id_file", str(path))
    page.uncheck("#id_dry_run")
    screenshot(page, "imports_01_upload")
    page.click("input[type=submit]")

    # then the job's page answers at once: queued, with an empty bar
    page.wait_for_selector("#import-status progress")
    assert page.inner_text("#import-status h2") == "Queued"
    screenshot(page, "imports_02_queued")
    with company_context(acme.company.id):
        job = ImportJob.objects.get()

    # when the worker runs it, the bar moves with each chunk (the page polls every second)
    seen = []
    publish = services._publish_progress

    def publish_and_look(job_id: int, processed: int, total: int) -> None:
        publish(job_id, processed, total)
        if 0 < processed < total:
            page.wait_for_function(
                "n => Number(document.querySelector('#import-status progress')?.value) >= n", arg=processed
            )
            seen.append(int(page.get_attribute("#import-status progress", "value")))
            if len(seen) == 2:
                screenshot(page, "imports_03_running")

    monkeypatch.setattr(services, "_publish_progress", publish_and_look)
    with company_context(acme.company.id):
        services.import_job_run(job_id=job.id)

    # then it showed the rows processed rising, and then the result, without a reload
    assert seen == sorted(seen)
    assert len(set(seen)) >= 3
    page.wait_for_selector(".integrations-done")
    assert page.inner_text("#import-status h2") == "Succeeded"
    assert "60" in page.inner_text(".integrations-counts")
    screenshot(page, "imports_04_done")
    with company_context(acme.company.id):
        assert KpiAction.objects.count() == ROWS
        assert ImportJob.objects.get().status == ImportStatus.SUCCEEDED
