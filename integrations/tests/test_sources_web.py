"""Integration sources in the API and the admin (issue 20): credentials are write-only everywhere,
health at a glance, "run now", and a failing source flagged on the admin's Home."""

import pytest

from integrations import crypto
from integrations.models import ImportJob, ImportStatus, IntegrationSource
from integrations.tests.test_sources import NOW, SECRET, make_source, row
from orgs.tenancy import company_context
from ratings.models import KpiAction

SOURCES = "/api/v1/integrations/"
ADMIN = "/admin/integrations/integrationsource/"
BODY = {
    "name": "CRM",
    "kind": "fake",
    "settings": {"overlap": 1},
    "credentials": {"token": SECRET},
    "mapping": {"person": "email", "kpi": "kpi", "value": "amount", "time": "at"},
    "schedule": 15,
}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_the_api_creates_runs_and_shows_a_source_without_its_credentials(
    acme, fake, clock, eager, token_client, django_capture_on_commit_callbacks
):
    # given a token with the org scope and a system with two records
    client = token_client(acme.company, scopes=("read", "org"))
    fake.rows = [row(1), row(2)]
    # when a source is created and run
    created = client.post(SOURCES, BODY, format="json")
    assert created.status_code == 201, created.content
    source_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"{SOURCES}{source_id}/run/")
    # then the run is an import job, followed at its URL, and it recorded both records
    assert started.status_code == 202, started.content
    job = client.get(started.json()["url"]).json()
    assert (job["status"], job["created"]) == ("succeeded", 2)
    detail = client.get(f"{SOURCES}{source_id}/").json()
    assert detail["last_run"]["id"] == started.json()["id"]
    assert (detail["last_run"]["created"], detail["records_last_day"]) == (2, 2)
    assert detail["has_credentials"] is True
    # and no answer carries the secret
    for response in (created, started, client.get(SOURCES), client.get(f"{SOURCES}{source_id}/")):
        assert SECRET not in response.content.decode()
        assert "credentials" not in response.json() or response.json()["credentials"] is None


def test_the_api_keeps_credentials_unless_given_and_refuses_a_bad_mapping(acme, fake, token_client):
    client = token_client(acme.company, scopes=("read", "org"))
    source_id = client.post(SOURCES, BODY, format="json").json()["id"]
    # when the name changes without credentials
    changed = client.patch(f"{SOURCES}{source_id}/", {"name": "CRM 2"}, format="json")
    # then the secret is kept
    assert changed.status_code == 200, changed.content
    with company_context(acme.company.id):
        assert crypto.decrypt(IntegrationSource.objects.get(id=source_id).credentials) == {"token": SECRET}
    # and a mapping with neither a KPI field nor a KPI is refused, naming the field
    refused = client.post(SOURCES, {**BODY, "name": "x", "mapping": {"person": "email"}}, format="json")
    assert refused.status_code == 400
    assert [error["field"] for error in refused.json()["errors"]] == ["mapping.kpi"]


def test_a_token_without_the_org_scope_may_not_change_sources(acme, fake, token_client):
    client = token_client(acme.company, scopes=("read", "actions"))
    assert client.post(SOURCES, BODY, format="json").status_code == 403


@pytest.fixture
def admin_client(client, acme):
    client.force_login(acme.admin.user)
    return client


def test_an_admin_adds_a_source_and_never_sees_its_credentials_again(acme, fake, clock, admin_client):
    # when a company admin adds a source with a secret
    form = {
        "name": "CRM",
        "kind": "fake",
        "setting_fake_overlap": "0",
        "credential_fake_token": SECRET,
        "schedule": "60",
        "enabled": "on",
        "mapping_person": "email",
        "mapping_person_key": "email",
        "mapping_kpi": "",
        "mapping_kpi_fixed": "calls",
        "mapping_value": "",
        "mapping_time": "",
        "mapping_filters": "stage = won",
    }
    response = admin_client.post(f"{ADMIN}add/", form)
    # then it is saved, encrypted, and its page never shows the secret
    assert response.status_code == 302, response.content.decode()[:3000]
    with company_context(acme.company.id):
        source = IntegrationSource.objects.get()
    assert source.mapping["filters"] == [{"field": "stage", "equals": "won"}]
    page = admin_client.get(f"{ADMIN}{source.id}/change/").content.decode()
    assert SECRET not in page
    assert "Run now" in page
    assert SECRET not in admin_client.get(ADMIN).content.decode()
    # and saving it again with the credentials left empty keeps them
    form["name"], form["credential_fake_token"] = "CRM 2", ""
    assert admin_client.post(f"{ADMIN}{source.id}/change/", form).status_code == 302
    with company_context(acme.company.id):
        source = IntegrationSource.objects.get()
    assert (source.name, crypto.decrypt(source.credentials)) == ("CRM 2", {"token": SECRET})


def test_run_now_in_the_admin_opens_the_runs_import_page_and_the_list_shows_health(
    acme, fake, clock, eager, admin_client, django_capture_on_commit_callbacks
):
    # given a source and a system with one record
    fake.rows = [row(1)]
    source = make_source(acme.company)
    # and the list offers "Run now" on the source's row, posting the list's form to its run
    button = f'formaction="{ADMIN}{source.id}/run/" formmethod="post">Run now</button>'
    assert button in admin_client.get(ADMIN).content.decode()
    # when its admin presses it (the list's form: its action fields come along, unread)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{ADMIN}{source.id}/run/", {"action": "", "index": "0"})
    # then the run's page (an import job's) shows the result
    with company_context(acme.company.id):
        job = ImportJob.objects.get(source=source)
    assert response.url == f"/admin/integrations/importjob/{job.id}/change/"
    page = admin_client.get(response.url).content.decode()
    assert "The run was recorded." in page
    assert job.status == ImportStatus.SUCCEEDED
    with company_context(acme.company.id):
        assert KpiAction.objects.count() == 1
    # and the list shows its last run, with a link to it, and its records
    listing = admin_client.get(ADMIN).content.decode()
    assert f"/admin/integrations/importjob/{job.id}/change/" in listing
    assert "Succeeded" in listing
    # and the source's page lists the run, linked to it
    page = admin_client.get(f"{ADMIN}{source.id}/change/").content.decode()
    assert f'<a href="/admin/integrations/importjob/{job.id}/change/">' in page
    assert "1 record" in page


def test_a_failing_source_is_flagged_on_its_admins_home_only(acme, fake, clock, admin_client):
    # given a source whose last run failed
    fake.rows = [row(1, amount="lots")]
    source = make_source(acme.company)
    from integrations.tests.test_sources import run

    assert run(source).status == ImportStatus.FAILED
    # then its admin's Home links to it
    home = admin_client.get("/").content.decode()
    assert 'id="failing-sources"' in home
    assert f"/admin/integrations/integrationsource/{source.id}/change/" in home
    # and a member's Home does not
    admin_client.force_login(acme.ann.user)
    assert 'id="failing-sources"' not in admin_client.get("/").content.decode()


def test_the_source_list_takes_the_same_queries_for_1_and_10_sources(
    acme, fake, clock, django_assert_num_queries
):
    from integrations.selectors import integration_source_list

    with company_context(acme.company.id):
        make_source(acme.company, name="s0")
        with django_assert_num_queries(1):
            list(integration_source_list())
        for n in range(1, 10):
            make_source(acme.company, name=f"s{n}")
        with django_assert_num_queries(1):
            assert len(list(integration_source_list())) == 10


def test_each_kind_has_its_own_fields_and_a_refused_setting_shows_beside_its_field(acme, fake, admin_client):
    # when a company admin opens the form
    page = admin_client.get(f"{ADMIN}add/").content.decode()
    # then each kind's settings and credentials are fields of their own, credentials as passwords
    assert 'name="setting_csv_url_url"' in page
    assert 'name="setting_json_records_path"' in page
    assert '<input type="password" name="credential_bitrix24_webhook_url"' in page
    # when they choose a sheet at a URL and give no address, and a JSON API's path besides
    form = {
        "name": "Sheet",
        "kind": "csv_url",
        "setting_csv_url_url": "",
        "setting_json_records_path": "data.items",
        "schedule": "60",
        "enabled": "on",
        "mapping_person": "user",
        "mapping_person_key": "email",
        "mapping_kpi": "kpi",
    }
    response = admin_client.post(f"{ADMIN}add/", form)
    # then the refusal stands beside the address, and nothing is saved
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["setting_csv_url_url"]
    # and once the address is given, only the chosen kind's settings are saved
    form["setting_csv_url_url"] = "https://example.com/sheet.csv"
    assert admin_client.post(f"{ADMIN}add/", form).status_code == 302
    with company_context(acme.company.id):
        source = IntegrationSource.objects.get()
    assert (source.settings, crypto.decrypt(source.credentials)) == (
        {"url": "https://example.com/sheet.csv"},
        {},
    )


def test_a_connectors_help_is_shown_as_text_not_as_html(acme, fake, admin_client):
    # Bitrix24's help names the webhook as https://<portal>/rest/<user id>/<code>/
    page = admin_client.get(f"{ADMIN}add/").content.decode()
    assert "https://&lt;portal&gt;/rest/&lt;user id&gt;/&lt;code&gt;/" in page
    assert "<code>" not in page
