"""Integration sources (issue 20): runs are import jobs, exactly once, all or nothing, with the
cursor committed with what they recorded; credentials encrypted and never shown."""

import datetime
import io
import logging
import re
import threading
import time
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from integrations import crypto, services
from integrations.models import ImportJob, ImportStatus, IntegrationSource, Schedule
from integrations.tests.runs import run
from orgs.models import Company, User
from orgs.tenancy import company_context
from ratings.models import ActionSource, KpiAction

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=datetime.UTC)
SECRET = "tok-5ecret-never-shown"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def row(n: int, email: str = "ann@acme.example", **changes) -> dict:
    return {
        "id": f"r{n}",
        "email": email,
        "kpi": "calls",
        "amount": "2",
        "at": "2026-06-15T09:00:00Z",
        **changes,
    }


MAPPING = {"person": "email", "kpi": "kpi", "value": "amount", "time": "at"}


def make_source(company, *, mapping=None, settings=None, **fields) -> IntegrationSource:
    with company_context(company.id):
        return services.integration_source_create(
            name=fields.pop("name", "CRM"),
            kind="fake",
            settings=settings or {},
            credentials={"token": SECRET},
            mapping=mapping or MAPPING,
            **fields,
        )


def recorded(company) -> list[tuple]:
    with company_context(company.id):
        return sorted(KpiAction.objects.values_list("external_id", "member__user__email", "value", "source"))


def test_records_land_exactly_once_across_repeated_and_overlapping_windows(acme, fake, clock):
    # given a source that reads two records again before its cursor
    fake.rows = [row(1), row(2), row(3, "bob@acme.example")]
    source = make_source(acme.company, settings={"overlap": 2})
    # when it runs, then runs again after two new records, then once more
    first = run(source)
    fake.rows += [row(4), row(5, "bob@acme.example")]
    second = run(source)
    third = run(source)
    # then every record is recorded once, through the recording service, as the source's
    assert (first.status, first.created, first.duplicates) == (ImportStatus.SUCCEEDED, 3, 0)
    assert (second.created, second.duplicates) == (2, 2)
    assert (third.created, third.duplicates) == (0, 2)
    actions = recorded(acme.company)
    assert [action[0] for action in actions] == [f"src:{source.id}:r{n}" for n in range(1, 6)]
    assert {action[3] for action in actions} == {ActionSource.INTEGRATION}
    assert source.cursor == "5"
    assert [call[0] for call in fake.calls] == [None, "3", "5"]


def test_a_failed_run_keeps_the_cursor_and_the_next_run_redoes_it(acme, fake, clock):
    # given a source that ran once
    fake.rows = [row(1)]
    source = make_source(acme.company)
    run(source)
    # when the system breaks in the middle of the next run
    fake.rows += [row(2), row(3), row(4)]
    fake.fail_after = 2
    failed = run(source)
    # then the run failed saying why, recorded nothing and kept the cursor
    assert failed.status == ImportStatus.FAILED
    assert failed.errors == [{"row": None, "column": None, "message": "The system answered 500."}]
    assert len(recorded(acme.company)) == 1
    assert source.cursor == "1"
    # and the next run reads from the same place and records the rest once
    fake.fail_after = None
    retried = run(source)
    assert (retried.status, retried.created) == (ImportStatus.SUCCEEDED, 3)
    assert fake.calls[-1][0] == "1"
    assert source.cursor == "4"


def test_a_record_changed_after_it_was_recorded_is_a_conflict_naming_the_record(acme, fake, clock):
    # given a recorded record
    fake.rows = [row(1), row(2)]
    source = make_source(acme.company, settings={"overlap": 2})
    run(source)
    # when the system changes its value, and a new record comes with it
    fake.rows = [row(1), row(2, amount="7"), row(3)]
    job = run(source)
    # then the run fails on the changed record (its position, its id) and records nothing
    assert job.status == ImportStatus.FAILED
    assert len(job.errors) == 1
    assert job.errors[0]["row"] == 2
    assert job.errors[0]["column"] == "id"
    assert f"src:{source.id}:r2" in job.errors[0]["message"]
    assert len(recorded(acme.company)) == 2
    assert source.cursor == "2"


def test_a_bad_record_fails_the_run_naming_its_position_and_field(acme, fake, clock):
    # given records with a value that is no number, one with no person, one with no e-mail
    fake.rows = [row(1), row(2, amount="lots"), row(3, email=""), row(4, email="e-ann")]
    source = make_source(acme.company)
    # when the source runs
    job = run(source)
    # then the run failed, each error names the record's position and the source's field
    assert job.status == ImportStatus.FAILED
    assert [(error["row"], error["column"]) for error in job.errors] == [
        (2, "amount"),
        (3, "email"),
        (4, "email"),
    ]
    assert recorded(acme.company) == []
    assert source.cursor == ""


def test_a_source_records_only_for_its_own_companys_people(acme, globex, fake, clock):
    # given a record naming a person of another company
    fake.rows = [row(1), row(2, email="zed@globex.example")]
    source = make_source(acme.company)
    # when it runs
    job = run(source)
    # then that record is "no such person" and nothing is recorded anywhere
    assert job.status == ImportStatus.FAILED
    assert job.errors[0]["row"] == 2
    assert job.errors[0]["column"] == "email"
    assert "zed@globex.example" in job.errors[0]["message"]
    assert recorded(acme.company) == []
    assert recorded(globex.company) == []


def test_one_per_record_a_fixed_kpi_and_filters(acme, fake, clock):
    # given a mapping with a fixed KPI, no value field and a filter on the stage
    fake.rows = [row(1, stage="won"), row(2, stage="lost"), row(3, "bob@acme.example", stage="won")]
    mapping = {
        "person": "email",
        "kpi_fixed": "calls",
        "time": "at",
        "filters": [{"field": "stage", "equals": "won"}],
    }
    source = make_source(acme.company, mapping=mapping)
    # when it runs
    job = run(source)
    # then the won records count 1 each
    assert (job.status, job.total_rows, job.created) == (ImportStatus.SUCCEEDED, 3, 2)
    assert [(action[1], action[2]) for action in recorded(acme.company)] == [
        ("ann@acme.example", 1),
        ("bob@acme.example", 1),
    ]


def test_a_worker_killed_mid_run_leaves_nothing_and_the_next_delivery_redoes_it(acme, fake, clock):
    # given a run whose worker dies after reading two records
    fake.rows = [row(1), row(2), row(3)]
    source = make_source(acme.company)

    def die(position):
        if position == 3:
            raise SystemExit("killed")

    fake.during = die
    with pytest.raises(SystemExit):
        run(source)
    with company_context(acme.company.id):
        (job,) = source.runs.all()
    assert job.status == ImportStatus.RUNNING
    assert recorded(acme.company) == []
    # when the message is delivered again
    fake.during = None
    with company_context(acme.company.id):
        again = services.integration_source_run(source_id=source.id)
    # then the same run is redone and everything is recorded once
    assert again.id == job.id
    assert again.status == ImportStatus.SUCCEEDED
    assert len(recorded(acme.company)) == 3


def test_asking_for_a_run_while_one_is_queued_is_that_run(
    acme, fake, clock, django_capture_on_commit_callbacks
):
    # given a queued run
    source = make_source(acme.company)
    with (
        company_context(acme.company.id),
        mock.patch("integrations.services.integration_source_run_task") as task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        first = services.integration_source_run_now(source=source)
        second = services.integration_source_run_now(source=source)
        # then asking again while it is queued is the same run, sent once
        assert first.id == second.id
        assert source.runs.count() == 1
    assert task.delay.call_count == 1


def test_rejected_credentials_fail_the_run_pause_the_source_and_tell_its_admins(
    acme, fake, clock, django_capture_on_commit_callbacks
):
    # given a source whose system refuses its credentials
    fake.rows = [row(1)]
    fake.reject = True
    source = make_source(acme.company)
    # when it runs
    with django_capture_on_commit_callbacks(execute=True):
        job = run(source)
    # then the run failed saying so, the source is paused, and its admin got an e-mail
    assert job.status == ImportStatus.FAILED
    assert "Credentials rejected by the source" in job.errors[0]["message"]
    assert source.paused_at is not None
    assert source.pause_reason == "credentials rejected by the source"
    assert [message.to for message in mail.outbox] == [["admin@acme.example"]]
    assert "CRM" in mail.outbox[0].subject
    assert SECRET not in mail.outbox[0].body
    # and the dispatcher leaves it alone until its admin saves it
    with company_context(acme.company.id):
        assert services.integration_sources_queue_due() == []
        services.integration_source_update(source=source, credentials={"token": "new"})
        with mock.patch("integrations.services.integration_source_run_task"):
            assert services.integration_sources_queue_due() == [source.id]


def test_the_dispatcher_queues_enabled_sources_on_their_schedule(acme, fake, time_machine):
    time_machine.move_to(NOW, tick=False)
    hourly = make_source(acme.company, name="hourly", schedule=Schedule.HOURLY)
    make_source(acme.company, name="off", enabled=False)
    with company_context(acme.company.id), mock.patch("integrations.services.integration_source_run_task"):
        assert services.integration_sources_queue_due() == [hourly.id]
        services.integration_source_run(source_id=hourly.id)
        time_machine.move_to(NOW + datetime.timedelta(minutes=59), tick=False)
        assert services.integration_sources_queue_due() == []
        time_machine.move_to(NOW + datetime.timedelta(minutes=60), tick=False)
        assert services.integration_sources_queue_due() == [hourly.id]


def test_credentials_are_encrypted_in_the_database_and_never_logged(acme, fake, clock, caplog):
    # given a source saved with a secret
    fake.rows = [row(1), row(2, amount="lots")]
    source = make_source(acme.company)
    # when it runs (and fails), with every log recorded
    with caplog.at_level(logging.DEBUG):
        run(source)
    # then the raw column holds a Fernet token, not the secret, and no log line holds it
    with company_context(acme.company.id), connection.cursor() as cursor:  # row-level security
        cursor.execute("SELECT credentials FROM integrations_integrationsource WHERE id = %s", [source.id])
        (raw,) = cursor.fetchone()
    assert SECRET not in raw
    assert raw.startswith("gAAAA")
    assert crypto.decrypt(raw) == {"token": SECRET}
    assert fake.calls[0][1] == {"token": SECRET}
    assert SECRET not in caplog.text


def test_a_rotated_key_still_opens_old_credentials(settings):
    # given credentials saved under an old key
    old, new = crypto.Fernet.generate_key().decode(), crypto.Fernet.generate_key().decode()
    settings.INTEGRATION_KEYS = [old]
    token = crypto.encrypt({"token": SECRET})
    # when a new key is put first
    settings.INTEGRATION_KEYS = [new, old]
    # then they still open, and rotating them re-encrypts under the new key alone
    assert crypto.decrypt(token) == {"token": SECRET}
    rotated = crypto.rotate(token)
    settings.INTEGRATION_KEYS = [new]
    assert crypto.decrypt(rotated) == {"token": SECRET}
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(token)


def test_a_source_is_refused_with_an_unknown_kind_or_an_incomplete_mapping(acme, fake):
    from kpi_platform.errors import DomainError

    with company_context(acme.company.id), pytest.raises(DomainError) as refused:
        services.integration_source_create(name="x", kind="nope", mapping={"kpi": "k", "kpi_fixed": "calls"})
    assert {error.field for error in refused.value.errors} == {"kind", "mapping.person", "mapping.kpi"}


def test_the_rotation_command_re_encrypts_under_the_first_key(acme, fake, settings):
    # given a source saved under an old key
    old, new = crypto.Fernet.generate_key().decode(), crypto.Fernet.generate_key().decode()
    settings.INTEGRATION_KEYS = [old]
    source = make_source(acme.company)
    # when a new key is put first and the command runs
    settings.INTEGRATION_KEYS = [new, old]
    call_command("integration_keys_rotate", stdout=io.StringIO())
    # then the new key alone opens the credentials
    settings.INTEGRATION_KEYS = [new]
    with company_context(acme.company.id):
        source = IntegrationSource.objects.get(id=source.id)
    assert crypto.decrypt(source.credentials) == {"token": SECRET}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_run_of_a_source_waits_for_the_first_and_starts_from_its_cursor(acme, fake):
    # given two runs of one source, the first stopped inside its pull (in its own thread)
    fake.rows = [row(1), row(2)]
    source = make_source(acme.company)
    with company_context(acme.company.id):
        first, second = services._source_job_create(source), services._source_job_create(source)
    inside, release = threading.Event(), threading.Event()

    def hold_the_first(position):
        if threading.current_thread().name == "first" and position == 1:
            inside.set()
            assert release.wait(30)

    fake.during = hold_the_first

    def work(job_id):
        try:
            with company_context(acme.company.id):
                services.import_job_run(job_id=job_id)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(job.id,), name=name)
        for job, name in ((first, "first"), (second, "second"))
    ]
    threads[0].start()
    assert inside.wait(30)
    # when the second run starts meanwhile
    threads[1].start()
    # then it waits on the source's row lock, and has not read the system
    assert _someone_waits_on_a_lock()
    assert len(fake.calls) == 1
    # and once the first commits, the second reads from the cursor the first left: nothing twice
    release.set()
    for thread in threads:
        thread.join(30)
    assert [call[0] for call in fake.calls] == [None, "2"]
    with company_context(acme.company.id):
        assert [job.status for job in ImportJob.objects.order_by("id")] == [ImportStatus.SUCCEEDED] * 2
        assert KpiAction.objects.count() == 2


def _someone_waits_on_a_lock() -> bool:
    """PostgreSQL says a session of this database waits for a lock (polled: a condition, not a timing)."""
    for _attempt in range(300):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def test_a_runs_errors_are_in_its_creators_language_else_the_companys(acme, globex, fake, clock):
    # given a Russian-speaking company whose source no one connected in a language (the API's token)
    Company.objects.filter(id=acme.company.id).update(default_language="ru")
    fake.rows = [row(1, email="zed@globex.example")]
    anonymous = make_source(acme.company)
    # when it runs, then its error is in Russian
    assert re.search("[а-яё]", run(anonymous).errors[0]["message"])
    # and a source its English-speaking admin connected reports in English
    User.objects.filter(id=acme.admin.user_id).update(language="en")
    theirs = make_source(acme.company, name="CRM 2", actor=acme.admin)
    assert not re.search("[а-яё]", run(theirs).errors[0]["message"])


def test_credentials_whose_key_was_dropped_pause_the_source_until_given_again(acme, fake, clock, settings):
    from kpi_platform.errors import DomainError

    # given a source saved under a key that was then dropped without a rotation
    settings.INTEGRATION_KEYS = [crypto.Fernet.generate_key().decode()]
    fake.rows = [row(1)]
    source = make_source(acme.company)
    settings.INTEGRATION_KEYS = [crypto.Fernet.generate_key().decode()]
    # when it runs, then the run fails saying so, records nothing, and the source is paused
    job = run(source)
    assert job.status == ImportStatus.FAILED
    assert "can no longer be read" in job.errors[0]["message"]
    assert recorded(acme.company) == []
    with company_context(acme.company.id):
        source.refresh_from_db()
    assert source.paused_at is not None
    # and saving it without credentials is refused on the credentials, not a 500
    with company_context(acme.company.id), pytest.raises(DomainError) as refused:
        services.integration_source_update(source=source, name="CRM 2")
    assert [error.field for error in refused.value.errors] == ["credentials"]
    # and entering them again resumes it, and its next run records
    with company_context(acme.company.id):
        services.integration_source_update(source=source, credentials={"token": SECRET})
    assert run(source).status == ImportStatus.SUCCEEDED
    assert len(recorded(acme.company)) == 1
