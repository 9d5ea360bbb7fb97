"""Imports in the admin (PRODUCT I3, O2): upload, progress, result, error report, check then record."""

import csv
import io

import pytest

from integrations.models import ImportJob, ImportStatus
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload
from orgs.tenancy import company_context
from ratings.models import KpiAction

ADD = "/admin/integrations/importjob/add/"
LIST = "/admin/integrations/importjob/"


def good_file() -> bytes:
    return csv_bytes([ACTION_HEADER, ["ann@acme.example", "calls", "2", YESTERDAY, "a-1", ""]])


def bad_file() -> bytes:
    return csv_bytes([ACTION_HEADER, ["ann@acme.example", "calls", "two", YESTERDAY, "a-1", ""]])


@pytest.fixture
def signed_in(client):
    def sign_in(member):
        client.force_login(member.user)
        return client

    return sign_in


def upload_in_admin(client, content: bytes, *, dry_run: bool, callbacks, name: str = "actions.csv"):
    data = {"kind": "actions", "file": upload(content, name)}
    if dry_run:
        data["dry_run"] = "on"
    with callbacks(execute=True):
        return client.post(ADD, data)


def test_a_check_then_recording_the_file(acme, signed_in, eager, django_capture_on_commit_callbacks):
    client = signed_in(acme.admin)

    # when the admin checks the file
    response = upload_in_admin(
        client, good_file(), dry_run=True, callbacks=django_capture_on_commit_callbacks
    )

    # then they land on the job's page, which shows the check's result and offers to record it
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "Every row is valid." in text
    assert "hx-get" not in text  # finished: no more polling
    with company_context(acme.company.id):
        checked = ImportJob.objects.get()
        assert not KpiAction.objects.exists()

    # when they record it
    with django_capture_on_commit_callbacks(execute=True):
        recorded = client.post(f"{LIST}{checked.pk}/record/")

    # then a second job recorded the file
    with company_context(acme.company.id):
        job = ImportJob.objects.exclude(pk=checked.pk).get()
        assert (job.status, job.created, job.dry_run) == (ImportStatus.SUCCEEDED, 1, False)
        assert KpiAction.objects.count() == 1
    assert recorded["Location"] == f"{LIST}{job.pk}/change/"
    assert "The file was recorded." in client.get(recorded["Location"]).content.decode()


def test_a_running_job_polls_its_progress(acme, signed_in, django_capture_on_commit_callbacks):
    client = signed_in(acme.admin)
    # given an upload no worker has taken yet
    response = upload_in_admin(
        client, good_file(), dry_run=False, callbacks=django_capture_on_commit_callbacks
    )
    with company_context(acme.company.id):
        job = ImportJob.objects.get()
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)

    page = client.get(response["Location"]).content.decode()
    fragment = client.get(f"{LIST}{job.pk}/progress/").content.decode()

    assert f'hx-get="{LIST}{job.pk}/progress/"' in page
    assert "<progress" in page
    assert "<progress" in fragment
    assert "vendor/htmx/htmx.min.js" in page


def test_a_failed_import_shows_the_first_errors_and_the_report(
    acme, signed_in, eager, django_capture_on_commit_callbacks
):
    client = signed_in(acme.admin)
    response = upload_in_admin(
        client, bad_file(), dry_run=False, callbacks=django_capture_on_commit_callbacks
    )

    page = client.get(response["Location"]).content.decode()
    with company_context(acme.company.id):
        job = ImportJob.objects.get()
    report = client.get(f"{LIST}{job.pk}/errors.csv")

    assert "Nothing was recorded" in page
    assert "<td>2</td><td>value</td>" in page
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows == [["row", "column", "message"], ["2", "value", job.errors[0]["message"]]]


def test_a_wrong_type_is_refused_on_the_form(acme, signed_in):
    client = signed_in(acme.admin)

    response = client.post(ADD, {"kind": "actions", "file": upload(b"%PDF", "a.pdf")})

    assert response.status_code == 200
    assert "Upload an .xlsx or a .csv file." in response.content.decode()
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


def test_another_companys_job_page_progress_report_and_record_are_not_found(
    acme, globex, signed_in, eager, django_capture_on_commit_callbacks
):
    # given a failed import of Globex
    upload_in_admin(
        signed_in(globex.admin),
        bad_file(),
        dry_run=False,
        callbacks=django_capture_on_commit_callbacks,
        name="globex-secret.csv",
    )
    with company_context(globex.company.id):
        theirs = ImportJob.objects.get()

    # then Acme's admin finds none of it
    client = signed_in(acme.admin)
    for url in ("change/", "progress/", "errors.xlsx", "errors.csv"):
        assert client.get(f"{LIST}{theirs.pk}/{url}").status_code == 404, url
    assert client.post(f"{LIST}{theirs.pk}/record/").status_code == 404
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert "globex-secret" not in listing.content.decode()


def test_a_member_who_is_not_an_admin_gets_no_imports(acme, signed_in):
    client = signed_in(acme.ann)
    assert client.get(ADD).status_code in (302, 403)


def test_the_actions_list_exports_every_selected_action_of_the_company_only(
    acme, globex, signed_in, monkeypatch
):
    # given actions in both companies, more than one export page
    from integrations import selectors
    from ratings.services import actions_record

    monkeypatch.setattr(selectors, "EXPORT_PAGE", 2)
    with company_context(acme.company.id):
        actions_record(
            items=[
                {
                    "user": "ann@acme.example",
                    "kpi": "calls",
                    "value": n,
                    "occurred_at": f"{YESTERDAY}T10:00:00",
                }
                for n in (1, 2, 3)
            ]
            + [{"user": "bob@acme.example", "kpi": "calls", "value": "4", "comment": "=cmd|' /C calc'!A0"}]
        )
        ours = list(KpiAction.objects.order_by("id").values_list("id", flat=True))
    with company_context(globex.company.id):
        actions_record(items=[{"user": "zed@globex.example", "kpi": "sales", "value": "9"}])
        theirs = KpiAction.objects.get().id

    # when Acme's admin selects all (and slips in Globex's id) and exports to csv
    response = signed_in(acme.admin).post(
        "/admin/ratings/kpiaction/",
        {"action": "export_actions_csv", "select_across": "1", "_selected_action": [*ours, theirs]},
    )

    # then every Acme action is in the file, in id order, with formulas escaped, and no Globex one
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:4] == ["id", "occurred at", "day", "user"]
    assert [int(row[0]) for row in rows[1:]] == ours
    assert [row[3] for row in rows[1:]] == ["ann@acme.example"] * 3 + ["bob@acme.example"]
    assert rows[4][10] == "'=cmd|' /C calc'!A0"
    assert str(theirs) not in [row[0] for row in rows[1:]]


# --- The lists' "Import" buttons: every admin import is a job (I3) -------------------------------

LISTS = [
    ("/admin/ratings/kpiaction/", "actions"),
    ("/admin/orgs/member/", "members"),
    ("/admin/kpis/kpi/", "kpis"),
    ("/admin/kpis/unit/", "units"),
]


@pytest.mark.parametrize(("list_url", "kind"), LISTS)
def test_each_lists_import_button_opens_the_upload_with_its_kind_and_links_back(
    acme, signed_in, list_url, kind
):
    client = signed_in(acme.admin)

    # when the admin opens the list and follows "Import"
    listing = client.get(list_url).content.decode()
    upload_page = client.get(f"{ADD}?kind={kind}")

    # then it is the upload of a background import, with the kind preselected and a way back
    assert f'<a href="{ADD}?kind={kind}" class="import_link">Import</a>' in listing
    assert upload_page.status_code == 200
    assert upload_page.context["form"]["kind"].value() == kind
    assert f'<a href="{list_url}">Back to' in upload_page.content.decode()


def test_an_unknown_kind_preselects_actions_and_offers_no_way_back(acme, signed_in):
    page = signed_in(acme.admin).get(f"{ADD}?kind=secrets")

    assert page.context["form"]["kind"].value() == "actions"
    assert "Back to" not in page.content.decode()


def test_the_result_of_a_people_import_links_back_to_the_people(
    acme, signed_in, eager, django_capture_on_commit_callbacks
):
    client = signed_in(acme.admin)
    people = csv_bytes([["email", "first_name"], ["cleo@acme.example", "Cleo"]])

    # when the admin imports a file of people from the people list's button
    with django_capture_on_commit_callbacks(execute=True):
        data = {"kind": "members", "file": upload(people, "people.csv")}
        response = client.post(f"{ADD}?kind=members", data)

    # then the job's page shows the result and leads back to the list
    page = client.get(response["Location"]).content.decode()
    assert "The file was recorded." in page
    assert '<a href="/admin/orgs/member/">Back to people</a>' in page
    with company_context(acme.company.id):
        assert ImportJob.objects.get().created == 1


@pytest.mark.parametrize(("list_url", "kind"), LISTS)
def test_the_import_button_is_only_for_company_admins(acme, make_member, signed_in, list_url, kind):
    # given a manager marked staff by mistake: the lists and the upload stay closed
    from orgs.models import Role, User

    manager = make_member(acme.company, Role.MANAGER)
    User.objects.filter(pk=manager.user.pk).update(is_staff=True)
    client = signed_in(manager)

    assert client.get(list_url).status_code == 403
    assert client.get(f"{ADD}?kind={kind}").status_code == 403
    response = client.post(f"{ADD}?kind={kind}", {"kind": kind, "file": upload(good_file(), "a.csv")})
    assert response.status_code == 403
    with company_context(acme.company.id):
        assert not ImportJob.objects.exists()


def test_a_units_import_cannot_touch_another_companys_units(
    acme, globex, signed_in, eager, django_capture_on_commit_callbacks
):
    """O2: Acme's units file names Globex's unit by id; it is not found, and nothing changes."""
    from kpis.models import Unit
    from kpis.tests.factories import make_unit

    with company_context(globex.company.id):
        widgets = make_unit(name={"en": "widgets"})
    content = csv_bytes([["id", "name_en"], [widgets.pk, "taken"], ["", "boxes"]])

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(acme.admin).post(ADD, {"kind": "units", "file": upload(content, "units.csv")})

    assert response.status_code == 302
    with company_context(acme.company.id):
        job = ImportJob.objects.get()
        assert not Unit.objects.filter(name_en="boxes").exists()
    assert (job.status, [(e["row"], e["column"]) for e in job.errors]) == (ImportStatus.FAILED, [(2, "id")])
    with company_context(globex.company.id):
        assert Unit.objects.get(pk=widgets.pk).name_en == "widgets"
        assert not ImportJob.objects.exists()
