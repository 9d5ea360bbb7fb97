"""The operators' commands: create_company, create_api_token, seed_demo (API.md Basics, I2, X1)."""

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from kpis.models import Change, Kpi, KpiAudience, KpiHide, KpiStatus, Target, TargetPart, Unit
from kpis.services import kpi_missing_translations
from orgs.auth import CompanyTokenAuthentication, hash_token
from orgs.demo import (
    ADMIN_EMAIL,
    DEMO_PASSWORD,
    LEAD_EMAIL,
    MANAGER_EMAIL,
    MEMBER_EMAIL,
    PEOPLE,
    ROOT_EMAIL,
)
from orgs.management.commands import changepassword
from orgs.models import ApiToken, Company, Department, DepartmentManager, Member, Role, Team, TeamLead, User
from orgs.tenancy import company_context, current_company_id_or_none
from orgs.tests.factories import MemberFactory

# The demo's KPI part (kpis.demo, a step of seed_demo): its rows, and its history (K10).
KPI_MODELS = (Unit, Kpi, KpiHide, KpiAudience, Target, TargetPart, Change)


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


# --- create_company ------------------------------------------------------------------------------


def test_create_company_creates_the_company_with_its_options(db):
    # when
    out = run("create_company", "acme", "--name", "Acme", "--languages=en,ru", "--timezone=Europe/Moscow")
    # then
    company = Company.objects.get(slug="acme")
    assert (company.name, company.languages, company.default_language, company.time_zone) == (
        "Acme",
        ["en", "ru"],
        "en",
        "Europe/Moscow",
    )
    assert "Created company 'Acme'" in out


def test_create_company_defaults_to_english_and_utc(db):
    run("create_company", "acme", "--name", "Acme")
    company = Company.objects.get(slug="acme")
    assert (company.languages, company.time_zone) == (["en"], "UTC")


def test_create_company_for_an_existing_slug_says_so_and_changes_nothing(db):
    # given
    run("create_company", "acme", "--name", "Acme", "--languages", "en,ru")
    before = Company.objects.values().get(slug="acme")
    # when
    out = run("create_company", "acme", "--name=Other name", "--languages=en", "--timezone=Asia/Tokyo")
    # then
    assert Company.objects.values().get(slug="acme") == before
    assert Company.objects.count() == 1
    assert "exists" in out


def test_create_company_with_admin_email_creates_a_company_admin(db):
    # when
    out = run("create_company", "acme", "--name", "Acme", "--admin-email", "Boss@Acme.example")
    # then
    company = Company.objects.get(slug="acme")
    user = User.objects.get(email="boss@acme.example")
    assert (user.company_id, user.is_staff, user.is_superuser) == (company.id, True, False)
    assert not user.has_usable_password()
    with company_context(company.id):
        assert Member.objects.get(user=user).role == Role.ADMIN
    assert "changepassword boss@acme.example" in out


def test_create_company_with_admin_email_is_idempotent(db):
    # given
    run("create_company", "acme", "--name", "Acme", "--admin-email", "boss@acme.example")
    company = Company.objects.get(slug="acme")
    with company_context(company.id):
        before = list(Member.objects.values())
    # when
    out = run("create_company", "acme", "--name", "Acme", "--admin-email", "boss@acme.example")
    # then
    with company_context(company.id):
        assert list(Member.objects.values()) == before
    assert "already" in out
    assert User.objects.filter(email="boss@acme.example").count() == 1


def test_create_company_makes_an_existing_member_an_admin(company):
    # given
    with company_context(company.id):
        MemberFactory(email="ann@acme.example", role=Role.MEMBER)
    # when
    run("create_company", company.slug, "--name", company.name, "--admin-email", "ann@acme.example")
    # then
    with company_context(company.id):
        member = Member.objects.select_related("user").get(user__email="ann@acme.example")
    assert (member.role, member.user.is_staff) == (Role.ADMIN, True)


def test_create_company_gives_an_admin_email_of_another_company_an_account_of_its_own(other_company):
    """O3, issue 17: an address another company uses blocks nothing; each company has its own account."""
    # given an address already used in another company
    with company_context(other_company.id):
        theirs = MemberFactory(email="taken@globex.example", role=Role.MEMBER)
    # when
    out = run("create_company", "acme", "--name", "Acme", "--admin-email", "taken@globex.example")
    # then Acme has its own admin account with that address, and Globex's is as it was
    acme = Company.objects.get(slug="acme")
    ours = User.objects.get(company=acme, email="taken@globex.example")
    assert ours.pk != theirs.pk
    assert (ours.is_staff, ours.has_usable_password()) == (True, False)
    assert User.objects.get(pk=theirs.pk).is_staff is False
    assert "changepassword taken@globex.example --company acme" in out


def test_changepassword_asks_which_company_when_the_email_has_several_accounts(company, other_company):
    """O3, issue 17: ``changepassword`` changes one company's account, named with --company."""
    for each in (company, other_company):
        with company_context(each.id):
            MemberFactory(email="ann@example.com")
    with pytest.raises(CommandError, match=r"several companies \(acme, globex\): say which with --company"):
        run("changepassword", "ann@example.com")
    command = changepassword.Command(stdout=StringIO())
    command._get_pass = lambda prompt="": "a new pass-2026-phrase"
    call_command(command, "ann@example.com", "--company", "globex")
    changed = {user.company_id: user.check_password("a new pass-2026-phrase") for user in User.objects.all()}
    assert changed == {company.id: False, other_company.id: True}


@pytest.mark.parametrize(
    "options",
    [["--timezone", "Mars/Olympus"], ["--languages", "en,xx"], ["--languages", ","]],
)
def test_create_company_refuses_bad_options(db, options):
    with pytest.raises(CommandError):
        run("create_company", "acme", "--name", "Acme", *options)
    assert not Company.objects.exists()


# --- create_api_token ----------------------------------------------------------------------------


def _authenticate(secret: str):
    request = Request(APIRequestFactory().get("/api/v1/", HTTP_AUTHORIZATION=f"Bearer {secret}"))
    with company_context(None):  # authentication binds the company; the with resets it
        principal, token = CompanyTokenAuthentication().authenticate(request)
        bound = current_company_id_or_none()
    return principal, token, bound


def test_create_api_token_prints_only_the_token_which_authenticates(company, capsys):
    # when (the command writes to the real stdout and stderr, as from a shell)
    call_command("create_api_token", "--company", company.slug, "--name", "CRM", "--scopes", "read,actions")
    captured = capsys.readouterr()
    # then stdout is the token alone, and the message went to stderr
    lines = captured.out.splitlines()
    assert len(lines) == 1
    secret = lines[0]
    assert secret.startswith(f"kpi_{company.id}_")
    assert "shown once" in captured.err
    assert secret not in captured.err
    # and the token authenticates for its company with its scopes
    principal, token, bound = _authenticate(secret)
    assert (principal.company_id, bound, token.name, token.scopes) == (
        company.id,
        company.id,
        "CRM",
        ["read", "actions"],
    )


def test_create_api_token_stores_only_the_hash(company):
    # when
    secret = run("create_api_token", "--company", company.slug, "--name", "CRM").strip()
    # then
    with company_context(company.id):
        row = ApiToken.objects.values().get()
    assert row["token_hash"] == hash_token(secret)
    assert secret not in json.dumps(row, default=str)
    assert row["scopes"] == ["read"]  # the default


def test_create_api_token_for_an_unknown_company_fails(db):
    with pytest.raises(CommandError, match="No company"):
        run("create_api_token", "--company", "nope", "--name", "CRM")


@pytest.mark.parametrize("scopes", ["read,write", "admin", ","])
def test_create_api_token_refuses_unknown_scopes_and_creates_nothing(company, scopes):
    with pytest.raises(CommandError, match="scope"):
        run("create_api_token", "--company", company.slug, "--name", "CRM", "--scopes", scopes)
    with company_context(company.id):
        assert not ApiToken.objects.exists()


# --- seed_demo -----------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def seeded_demo(django_db_setup, django_db_blocker) -> Iterator[Company]:
    """The demo, seeded once for the tests of a class in a transaction rolled back after the last of
    them (seed_demo takes seconds); each test runs in a savepoint inside it (``demo`` asks for
    ``db``), so what one test writes is gone before the next."""
    with django_db_blocker.unblock(), transaction.atomic():
        run("seed_demo")
        yield Company.objects.get(slug="demo")
        transaction.set_rollback(True)


@pytest.fixture
def demo(db, seeded_demo) -> Company:
    return Company.objects.get(pk=seeded_demo.pk)


def _snapshot(company: Company) -> dict:
    """Every row the demo writes, with its update time: equal snapshots mean nothing changed."""
    with company_context(company.id):  # PostgreSQL's row-level security applies to every read
        return {
            "companies": list(Company.objects.values().order_by("id")),
            "users": list(User.objects.values().order_by("id")),
            **{
                model.__name__: list(model.objects.values().order_by("pk"))
                for model in (Department, Team, Member, DepartmentManager, TeamLead, *KPI_MODELS)
            },
        }


class TestTheSeededDemo:
    """The demo as seed_demo makes it, seeded once for all of these tests (``seeded_demo``)."""

    def test_seed_demo_twice_changes_nothing(self, demo):
        # given the demo, seeded once
        before = _snapshot(demo)
        assert len(before["Member"]) == len(PEOPLE)
        # when it is seeded again
        out = run("seed_demo")
        # then
        assert _snapshot(demo) == before
        assert "nothing changed" in out

    def test_seed_demo_gives_the_demo_its_kpis_and_targets(self, demo):
        with company_context(demo.id):
            kpis = list(Kpi.objects.all())
            active = [kpi for kpi in kpis if kpi.status == KpiStatus.ACTIVE]
            # 12+ KPIs, the Active ones complete in English and Russian (K5)
            assert len(kpis) >= 12
            assert len(active) >= 12
            assert all(kpi_missing_translations(kpi, demo) == [] for kpi in active)
            assert all(kpi.name_ru and kpi.description_ru for kpi in active)
            # an inherited KPI hidden lower down (K6), and targets with their breakdowns (K9)
            assert KpiHide.objects.filter(department__isnull=False).exists()
            assert KpiHide.objects.filter(team__isnull=False).exists()
            assert Target.objects.count() >= 20
            assert TargetPart.objects.exists()
            assert Target.objects.filter(member__user__email=MEMBER_EMAIL).exists()

    def test_seed_demo_creates_the_demo_company(self, demo):
        assert (demo.name, demo.languages, demo.default_language, demo.time_zone) == (
            "Demo Company",
            ["en", "ru"],
            "en",
            "Europe/Moscow",
        )

    @pytest.mark.parametrize("email", [ADMIN_EMAIL, MANAGER_EMAIL, LEAD_EMAIL, MEMBER_EMAIL, ROOT_EMAIL])
    def test_the_demo_sign_ins_work(self, demo, client, email):
        assert client.login(email=email, password=DEMO_PASSWORD)

    def test_the_demo_admin_signs_in_through_the_login_page(self, demo, client):
        response = client.post("/accounts/login/", {"username": ADMIN_EMAIL, "password": DEMO_PASSWORD})
        assert (response.status_code, response["Location"]) == (302, "/")

    def test_the_demo_sign_ins_have_their_roles(self, demo):
        with company_context(demo.id):
            members = {m.user.email: m for m in Member.objects.select_related("user", "team__department")}
            sales = Department.objects.get(name="Sales")
            admin, manager = members[ADMIN_EMAIL], members[MANAGER_EMAIL]
            lead, member = members[LEAD_EMAIL], members[MEMBER_EMAIL]
            # then the admin administers the company
            assert (admin.role, admin.user.is_staff) == (Role.ADMIN, True)
            # the manager manages Sales
            assert manager.role == Role.MANAGER
            assert list(sales.managers.all()) == [manager]
            # the lead leads a team of Sales and is in it; the member is in that team
            led = list(lead.led_teams.all())
            assert lead.role == Role.LEAD
            assert len(led) == 1
            assert led[0].department == sales
            assert lead.team == led[0]
            assert (member.role, member.team) == (Role.MEMBER, led[0])
        # and the platform operator is a superuser in no company
        root = User.objects.get(email=ROOT_EMAIL)
        assert (root.is_superuser, root.is_staff, root.company_id) == (True, True, None)
        with company_context(demo.id):
            assert not Member.objects.filter(user=root).exists()

    def test_the_demo_has_departments_teams_and_people_of_every_role(self, demo):
        with company_context(demo.id):
            departments = {d.name: d for d in Department.objects.all()}
            assert sorted(departments) == ["Customer Success", "Sales"]
            assert all(d.teams.count() == 2 and d.managers.exists() for d in departments.values())
            teams = list(Team.objects.all())
            assert len(teams) == 4
            assert all(team.leads.exists() and team.members.count() >= 5 for team in teams)
            members = list(Member.objects.select_related("team", "department"))
        assert len(members) == len(PEOPLE) >= 40
        assert {m.role for m in members} == set(Role.values)
        assert len([m for m in members if m.team is None and m.department is not None]) >= 2
        assert len([m for m in members if m.external_id]) >= 3
        # a team's people are in the team's department (O3)
        assert all(m.department_id == m.team.department_id for m in members if m.team is not None)

    def test_every_person_of_the_demo_belongs_to_it(self, demo, other_company):
        # given a person of another company
        with company_context(other_company.id):
            MemberFactory(email="someone@globex.example")
        # then the demo's sign-ins and its people are the same, all at the demo's domain
        demo_users = User.objects.filter(company=demo)
        with company_context(demo.id):
            demo_members = set(Member.objects.values_list("user_id", flat=True))
            unscoped = set(Member.dangerously_unscoped.filter(company=demo).values_list("user_id", flat=True))
        assert demo_users.count() == len(demo_members) == len(PEOPLE)
        assert set(demo_users.values_list("id", flat=True)) == demo_members == unscoped
        assert all(email.endswith("@demo.example") for email in demo_users.values_list("email", flat=True))


def test_seed_demo_prints_how_to_sign_in(db):
    out = run("seed_demo")
    assert "http://127.0.0.1:8000/" in out
    assert DEMO_PASSWORD in out
    for email in (ADMIN_EMAIL, MANAGER_EMAIL, LEAD_EMAIL, MEMBER_EMAIL, ROOT_EMAIL):
        assert email in out


def test_seed_demo_seeds_when_another_company_uses_a_demo_address(other_company):
    """O3, issue 17: another company's person with a demo address blocks nothing and is untouched."""
    # given a demo address used in another company
    with company_context(other_company.id):
        theirs = MemberFactory(email=LEAD_EMAIL, first_name="Not", last_name="Demo")
    # when
    run("seed_demo")
    # then the demo has its own lead with that address, and the other company's person is as it was
    demo = Company.objects.get(slug="demo")
    assert User.objects.filter(company=demo, email=LEAD_EMAIL).exclude(pk=theirs.pk).exists()
    assert User.objects.values_list("company_id", "first_name").get(pk=theirs.pk) == (other_company.id, "Not")
    assert User.objects.filter(email=ROOT_EMAIL, company=None).exists()
