"""Organization services (PRODUCT O1, O3–O6, I2)."""

import pytest

from kpi_platform.errors import DomainError
from orgs.auth import hash_token
from orgs.models import ApiToken, Company, Department, Member, Role, Team, User
from orgs.services import (
    api_token_create,
    api_token_revoke,
    company_create,
    company_update,
    department_create,
    department_delete,
    department_update,
    member_create,
    member_update,
    members_move,
    team_create,
    team_delete,
    team_update,
)
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory


def _code(excinfo) -> str:
    return excinfo.value.code


# --- companies ------------------------------------------------------------------------------------


def test_company_create_is_idempotent_for_an_existing_slug(db):
    first, created = company_create(
        slug="acme", name="Acme", languages=["en", "ru"], time_zone="Europe/Moscow"
    )
    again, created_again = company_create(slug="acme", name="Other name")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert Company.objects.get(slug="acme").name == "Acme"


def test_company_create_refuses_an_unknown_time_zone_or_language(db):
    with pytest.raises(Exception, match="time zone"):
        company_create(slug="x", name="X", time_zone="Mars/Olympus")
    with pytest.raises(Exception, match="not offered"):
        company_create(slug="y", name="Y", languages=["en", "xx"])
    assert not Company.objects.filter(slug__in=["x", "y"]).exists()


def test_company_create_takes_the_tracking_frequencies(db):
    company, _ = company_create(
        slug="acme", name="Acme", primary_frequency="quarterly", secondary_frequency="daily"
    )
    assert (company.primary_frequency, company.secondary_frequency) == ("quarterly", "daily")


def test_company_update_changes_settings_and_refuses_invalid_ones(company):
    company_update(company=company, name="Acme Corp", languages=["en"], default_language="en")
    assert Company.objects.values_list("name", "languages").get(id=company.id) == ("Acme Corp", ["en"])
    with pytest.raises(Exception, match="default language"):
        company_update(company=company, default_language="ru")  # not enabled any more
    with pytest.raises(TypeError):
        company_update(company=company, slug="renamed")  # the slug is the company's handle
    assert Company.objects.get(id=company.id).default_language == "en"


def test_company_update_reports_every_bad_setting_at_once_and_leaves_the_company_as_it_was(company):
    # when the settings have an unknown zone, an hour past 23 and a default language not enabled
    with pytest.raises(DomainError) as refused:
        company_update(
            company=company, time_zone="Mars/Base", report_hour=25, languages=["en"], default_language="ru"
        )
    # then each is named with its field, and neither the row nor the object changed
    assert [(error.code, error.field) for error in refused.value.errors] == [
        ("time_zone_invalid", "time_zone"),
        ("default_language_not_enabled", "default_language"),
        ("report_hour_invalid", "report_hour"),
    ]
    assert (company.time_zone, company.report_hour, company.languages) == ("Europe/Moscow", 8, ["en", "ru"])
    assert Company.objects.get(id=company.id).time_zone == "Europe/Moscow"


def test_company_update_keeps_a_history_entry_of_what_changed_and_none_for_no_change(company, admin_member):
    from kpis.models import Change

    company_update(company=company, actor=admin_member, report_hour=9, name="Acme")  # the name is the same
    company_update(company=company, actor=admin_member, report_hour=9)
    with company_context(company.id):
        (change,) = Change.objects.filter(object_type="company", object_id=company.id)
    assert (change.actor_id, change.changes) == (admin_member.pk, {"report_hour": [8, 9]})


# --- departments and teams ---------------------------------------------------------------------------


def test_department_names_are_unique_case_insensitively_within_a_company(company, other_company):
    with company_context(company.id):
        department_create(name="Sales")
        with pytest.raises(DomainError) as excinfo:
            department_create(name="  sALES ")
        assert _code(excinfo) == "name_taken"
    with company_context(other_company.id):
        assert department_create(name="Sales").name == "Sales"  # another company may use it


@pytest.mark.parametrize(
    ("name", "code"), [("", "required"), ("   ", "required"), ("x" * 151, "name_length")]
)
def test_department_name_must_be_present_and_short(in_company, name, code):
    with pytest.raises(DomainError) as excinfo:
        department_create(name=name)
    assert (_code(excinfo), excinfo.value.field) == (code, "name")


def test_renaming_a_department_to_another_departments_name_is_refused(in_company):
    department_create(name="Sales")
    support = department_create(name="Support")
    with pytest.raises(DomainError) as excinfo:
        department_update(department=support, name="sales")
    assert _code(excinfo) == "name_taken"
    assert Department.objects.get(id=support.id).name == "Support"


def test_appointing_managers_and_leads_gives_them_the_role(in_company):
    sales = department_create(name="Sales")
    team = team_create(name="North", department=sales)
    manager, lead, admin = MemberFactory(), MemberFactory(), MemberFactory(role=Role.ADMIN)
    department_update(department=sales, managers=[manager, admin])
    team_update(team=team, leads=[lead])
    roles = dict(Member.objects.values_list("user_id", "role"))
    assert roles == {manager.user_id: Role.MANAGER, lead.user_id: Role.LEAD, admin.user_id: Role.ADMIN}


def test_moving_a_team_to_another_department_moves_its_people_along(in_company):
    sales, support = department_create(name="Sales"), department_create(name="Support")
    team = team_create(name="North", department=sales)
    person = MemberFactory(team=team)
    team_update(team=team, department=support)
    person.refresh_from_db()
    assert (person.team_id, person.department_id) == (team.id, support.id)


# --- O6: deleting units loses nobody ---------------------------------------------------------------


def test_deleting_a_department_unassigns_its_people_and_deletes_its_teams(in_company):
    # given a department with a team of two and one person directly in it
    sales = department_create(name="Sales")
    north = team_create(name="North", department=sales)
    people = [MemberFactory(team=north), MemberFactory(team=north), MemberFactory(department=sales)]
    # when it is deleted
    summary = department_delete(department=sales)
    # then everyone is still there, unassigned
    assert (summary.teams, summary.members) == (1, 3)
    assert not Team.objects.exists()
    assert (
        list(Member.objects.filter(user_id__in=[p.user_id for p in people]).values_list("department", "team"))
        == [(None, None)] * 3
    )


def test_deleting_a_department_can_move_its_people_to_another(in_company):
    sales, support = department_create(name="Sales"), department_create(name="Support")
    person = MemberFactory(team=team_create(name="North", department=sales))
    department_delete(department=sales, move_to=support)
    person.refresh_from_db()
    assert (person.department_id, person.team_id) == (support.id, None)


def test_deleting_a_team_keeps_its_people_in_the_department_or_moves_them(in_company):
    sales = department_create(name="Sales")
    north, south = team_create(name="North", department=sales), team_create(name="South", department=sales)
    stays, moves = MemberFactory(team=north), MemberFactory(team=south)
    team_delete(team=north)
    team_delete(team=south, move_to=team_create(name="West", department=department_create(name="Support")))
    stays.refresh_from_db()
    moves.refresh_from_db()
    assert (stays.department_id, stays.team_id) == (sales.id, None)
    assert moves.team.name == "West"
    assert moves.department.name == "Support"
    assert Member.objects.count() == 2


# --- people -----------------------------------------------------------------------------------------


def test_member_create_places_a_team_member_in_the_teams_department(in_company):
    team = team_create(name="North", department=department_create(name="Sales"))
    person = member_create(email="Ann@Example.com", team=team)
    assert person.department_id == team.department_id
    assert person.user.email == "ann@example.com"
    assert person.user.company_id == in_company.id


def test_member_create_refuses_a_team_of_another_department(in_company):
    team = team_create(name="North", department=department_create(name="Sales"))
    with pytest.raises(DomainError) as excinfo:
        member_create(email="ann@example.com", team=team, department=department_create(name="Support"))
    assert _code(excinfo) == "team_not_in_department"
    assert not User.objects.filter(email="ann@example.com").exists()


def test_an_email_of_another_company_gets_an_account_of_its_own_and_theirs_is_untouched(
    company, other_company
):
    """O3, issue 17: no ``email_taken`` for another company's address (an oracle, and a way to
    keep that company from ever adding the person): each company has its own account."""
    # given Ann at Globex
    with company_context(other_company.id):
        theirs = member_create(
            email="ann@example.com", first_name="Ann", role=Role.ADMIN, password="globex-2026-pass"
        )
    # when Acme adds the same address, in another case
    with company_context(company.id):
        ours = member_create(email="ANN@example.com", first_name="Annie", password="acme-2026-pass-word")
    # then Acme has an account of its own, and Globex's is as it was
    assert ours.pk != theirs.pk
    assert User.objects.filter(email="ann@example.com").count() == 2
    mine, other = User.objects.get(pk=ours.pk), User.objects.get(pk=theirs.pk)
    assert (mine.company_id, mine.first_name, mine.is_staff) == (company.id, "Annie", False)
    assert (other.company_id, other.first_name, other.is_staff) == (other_company.id, "Ann", True)
    assert other.check_password("globex-2026-pass")
    assert not other.check_password("acme-2026-pass-word")
    with company_context(other_company.id):
        assert Member.objects.get(pk=theirs.pk).role == Role.ADMIN


def test_an_email_used_in_the_same_company_is_taken_whatever_its_case(company, other_company):
    with company_context(company.id):
        member_create(email="ann@example.com")
        with pytest.raises(DomainError) as excinfo:
            member_create(email=" Ann@Example.COM ")
    assert _code(excinfo) == "email_taken"


def test_changing_an_email_to_another_companys_address_is_allowed_but_not_to_a_colleagues(
    company, other_company
):
    """O3, issue 17: member_update checks the address within the company only."""
    with company_context(other_company.id):
        member_create(email="bob@example.com")
    with company_context(company.id):
        ann = member_create(email="ann@example.com")
        member_create(email="carl@example.com")
        assert member_update(member=ann, email="Bob@example.com").user.email == "bob@example.com"
        with pytest.raises(DomainError) as excinfo:
            member_update(member=ann, email="carl@example.com")
    assert _code(excinfo) == "email_taken"


def test_the_database_keeps_an_email_unique_per_company_and_among_operators(company, other_company):
    """O3, issue 17: the constraints behind the service's check (case-insensitive)."""
    from django.db import IntegrityError, transaction

    User.objects.create(email="ann@example.com", company=company)
    User.objects.create(email="ann@example.com", company=other_company)
    User.objects.create(email="ann@example.com", company=None)
    for duplicate in (company, None):
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.create(email="ANN@example.com", company=duplicate)


def test_external_ids_are_unique_within_a_company_only(company, other_company):
    with company_context(company.id):
        member_create(email="a@example.com", external_id="crm-1")
        with pytest.raises(DomainError) as excinfo:
            member_create(email="b@example.com", external_id="crm-1")
        assert _code(excinfo) == "external_id_taken"
    with company_context(other_company.id):
        assert member_create(email="c@example.com", external_id="crm-1").external_id == "crm-1"


def test_a_language_the_company_has_not_enabled_is_refused(company, other_company):
    with company_context(other_company.id), pytest.raises(DomainError) as excinfo:  # Globex: en only
        member_create(email="a@example.com", language="ru")
    assert _code(excinfo) == "language_invalid"


def test_making_someone_admin_lets_them_into_the_admin_site(in_company):
    person = MemberFactory()
    member_update(member=person, role=Role.ADMIN)
    assert User.objects.get(id=person.user_id).is_staff
    member_update(member=person, role=Role.MEMBER)
    assert not User.objects.get(id=person.user_id).is_staff


def test_moving_someone_to_another_department_takes_them_out_of_their_team(in_company):
    team = team_create(name="North", department=department_create(name="Sales"))
    support = department_create(name="Support")
    person = MemberFactory(team=team)
    member_update(member=person, department=support)
    person.refresh_from_db()
    assert (person.department_id, person.team_id) == (support.id, None)


def test_members_move_moves_many_people_to_a_team_in_one_step(in_company):
    sales, support = department_create(name="Sales"), department_create(name="Support")
    target = team_create(name="Care", department=support)
    people = [
        MemberFactory(department=sales),
        MemberFactory(team=team_create(name="North", department=sales)),
    ]
    assert members_move(members=people, team=target) == 2
    assert set(Member.objects.values_list("team_id", "department_id")) == {(target.id, support.id)}


# --- API tokens -----------------------------------------------------------------------------------------


def test_a_new_token_is_stored_only_as_a_hash(in_company):
    new = api_token_create(name="CRM", scopes=["actions", "read"])
    token = ApiToken.objects.get()
    assert new.secret.startswith(f"kpi_{in_company.id}_")
    assert token.token_hash == hash_token(new.secret)
    assert new.secret not in {token.prefix, token.name, token.token_hash}
    assert token.scopes == ["read", "actions"]


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "everything"]])
def test_a_token_needs_known_scopes(in_company, scopes):
    with pytest.raises(DomainError) as excinfo:
        api_token_create(name="CRM", scopes=scopes)
    assert _code(excinfo) == "scope_invalid"
    assert not ApiToken.objects.exists()


def test_revoking_a_token_keeps_the_first_revocation_time(in_company):
    token = api_token_create(name="CRM", scopes=["read"]).token
    first = api_token_revoke(token=token).revoked_at
    assert api_token_revoke(token=token).revoked_at == first
    assert not ApiToken.objects.get().is_active
