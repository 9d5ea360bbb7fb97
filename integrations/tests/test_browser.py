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
from orgs.tests.admin_pages import sign_in_to_the_admin
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
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

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
    seen = run_watching_the_bar(
        page, monkeypatch, acme, job, screenshot=screenshot, shot=(2, "imports_03_running")
    )

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


def run_watching_the_bar(page, monkeypatch, acme, job, *, screenshot, shot: tuple[int, str]) -> list[int]:
    """Run the job in this thread, as the worker would, and after each chunk wait until the page
    (which polls every second) shows it: the bar's values seen, with a screenshot at ``shot``."""
    seen = []
    publish = services._publish_progress

    def publish_and_look(job_id: int, processed: int, total: int) -> None:
        publish(job_id, processed, total)
        if 0 < processed < total:
            page.wait_for_function(
                "n => Number(document.querySelector('#import-status progress')?.value) >= n", arg=processed
            )
            seen.append(int(page.get_attribute("#import-status progress", "value")))
            if len(seen) == shot[0]:
                screenshot(page, shot[1])

    monkeypatch.setattr(services, "_publish_progress", publish_and_look)
    with company_context(acme.company.id):
        services.import_job_run(job_id=job.id)
    return seen


@pytest.mark.django_db(transaction=True)
def test_an_admin_imports_people_from_the_people_lists_import_button(
    acme, make_member, browser_page, live_server, screenshot, monkeypatch, tmp_path
):
    # given an admin, and a file of 60 new people, whose progress is published every 10 rows
    make_member(acme.company, Role.ADMIN, email="ada@acme.example", password=PASSWORD)
    path = tmp_path / "people.csv"
    rows = [["email", "first_name", "last_name"]] + [
        [f"new{n:02}@acme.example", "New", f"Person {n:02}"] for n in range(ROWS)
    ]
    path.write_bytes(csv_bytes(rows))
    monkeypatch.setattr(services, "MEMBERS_PROGRESS_EVERY", 10)
    monkeypatch.setattr(services, "_enqueue_on_commit", lambda job: None)  # the worker is this thread
    page = browser_page
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

    # when they press "Import" on the people list
    page.goto(f"{live_server.url}/admin/orgs/member/")
    screenshot(page, "imports_10_people_list")
    page.click("a.import_link")

    # then the upload opens with "People" chosen
    page.wait_for_selector("#id_file")
    assert page.input_value("#id_kind") == "members"

    # when they upload the file, recording it at once
    page.set_input_files("#id_file", str(path))
    page.uncheck("#id_dry_run")
    screenshot(page, "imports_11_people_upload")
    page.click("input[type=submit]")
    page.wait_for_selector("#import-status progress")
    with company_context(acme.company.id):
        job = ImportJob.objects.get()

    # and the worker runs it: the bar moves every 10 rows
    seen = run_watching_the_bar(
        page, monkeypatch, acme, job, screenshot=screenshot, shot=(3, "imports_12_people_running")
    )

    # then the page showed the rows rising, then the result with the counts
    assert seen == sorted(seen)
    assert len(set(seen)) >= 3
    page.wait_for_selector(".integrations-done")
    counts = page.inner_text(".integrations-counts")
    assert "60" in counts
    screenshot(page, "imports_13_people_done")

    # and "Back to people" leads to the list, with the new people in it
    page.click("text=Back to people")
    page.wait_for_url(f"{live_server.url}/admin/orgs/member/")
    page.fill("#searchbar", "new59@acme.example")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("text=new59@acme.example")
    screenshot(page, "imports_14_people_found")
    with company_context(acme.company.id):
        assert ImportJob.objects.get().created == ROWS


@pytest.mark.django_db(transaction=True)
def test_an_admin_checks_then_records_kpis_from_the_kpi_lists_import_button(
    acme, make_member, browser_page, live_server, screenshot, monkeypatch, tmp_path
):
    # given an admin and a file of two KPI definitions
    from kpis.models import Kpi

    make_member(acme.company, Role.ADMIN, email="ada@acme.example", password=PASSWORD)
    path = tmp_path / "kpis.csv"
    path.write_bytes(csv_bytes([["integration_name", "name_en"], ["visits", "Visits"], ["demos", "Demos"]]))
    monkeypatch.setattr(services, "_enqueue_on_commit", lambda job: None)  # the worker is this thread
    page = browser_page
    sign_in_to_the_admin(page, live_server, "ada@acme.example", PASSWORD)

    # when they press "Import" on the KPI list and upload the file to check it
    page.goto(f"{live_server.url}/admin/kpis/kpi/")
    screenshot(page, "imports_20_kpi_list")
    page.click("a.import_link")
    page.wait_for_selector("#id_file")
    assert page.input_value("#id_kind") == "kpis"
    assert page.is_checked("#id_dry_run")  # "check only" is offered first
    page.set_input_files("#id_file", str(path))
    page.click("input[type=submit]")
    page.wait_for_selector("#import-status")
    with company_context(acme.company.id):
        check = ImportJob.objects.get()
        services.import_job_run(job_id=check.id)

    # then the check's result offers to record the file, and nothing is written yet
    page.wait_for_selector("text=Every row is valid.")
    screenshot(page, "imports_21_kpi_checked")
    with company_context(acme.company.id):
        assert not Kpi.objects.filter(integration_name__in=["visits", "demos"]).exists()

    # when they record it and the worker runs it
    page.click("input[value='Record this file']")
    page.wait_for_url(lambda url: f"/{check.id}/" not in url)
    with company_context(acme.company.id):
        recording = ImportJob.objects.exclude(pk=check.pk).get()
        services.import_job_run(job_id=recording.id)

    # then the page shows the file recorded, and "Back to KPIs" lists the new KPIs
    page.wait_for_selector(".integrations-done")
    screenshot(page, "imports_22_kpi_recorded")
    page.click("text=Back to KPIs")
    page.wait_for_selector("text=Visits")
    assert "Demos" in page.inner_text("#result_list")
