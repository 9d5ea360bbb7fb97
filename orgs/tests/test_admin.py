"""The web admin (PRODUCT O2, O4–O6, I2): a company admin sees, picks, changes and deletes only
their own company's rows; platform operators manage companies only; nobody else gets in."""

import re
from types import SimpleNamespace

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpi_platform.errors import DomainError
from orgs import services
from orgs.auth import hash_token
from orgs.models import ApiToken, Company, Department, Member, Role, Team, User
from orgs.tenancy import company_context
from orgs.tests.admin_pages import (
    ADMIN,
    assert_no_names,
    assert_not_found_redirect,
    reload,
    rows,
    sign_in_to_the_admin,
    text,
)

# Names that must never appear on a page of Acme's admin.
GLOBEX_NAMES = [
    "Globex Secret Dept",
    "Globex Secret Team",
    "Zed Globexian",
    "zed@globex.example",
    "Globex CRM",
]


# --- Fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def acme(company, admin_member, make_member):
    """Acme: Sales (teams Hunters and Farmers) and Support, three people, one API token."""
    with company_context(company.id):
        sales = services.department_create(name="Sales")
        support = services.department_create(name="Support")
        hunters = services.team_create(name="Hunters", department=sales)
        farmers = services.team_create(name="Farmers", department=sales)
    alice = make_member(
        company, first_name="Alice", last_name="Archer", email="alice@acme.example", team=hunters
    )
    bob = make_member(company, first_name="Bob", last_name="Baker", email="bob@acme.example", team=hunters)
    carol = make_member(
        company, first_name="Carol", last_name="Cole", email="carol@acme.example", department=sales
    )
    with company_context(company.id):
        token = services.api_token_create(name="Acme CRM", scopes=["read"]).token
    return SimpleNamespace(
        company=company,
        admin=admin_member,
        sales=sales,
        support=support,
        hunters=hunters,
        farmers=farmers,
        alice=alice,
        bob=bob,
        carol=carol,
        token=token,
    )


@pytest.fixture
def globex(other_company, other_admin_member, make_member):
    """Globex, the other company: a department, a team, a person and a token with telling names."""
    with company_context(other_company.id):
        department = services.department_create(name="Globex Secret Dept")
        team = services.team_create(name="Globex Secret Team", department=department)
    person = make_member(
        other_company, first_name="Zed", last_name="Globexian", email="zed@globex.example", team=team
    )
    with company_context(other_company.id):
        services.department_update(department=department, managers=[person])
        token = services.api_token_create(name="Globex CRM", scopes=["read"]).token
    return SimpleNamespace(
        company=other_company, department=department, team=team, person=person, token=token
    )


@pytest.fixture
def acme_admin(client, acme):
    client.force_login(acme.admin.user)
    return client


@pytest.fixture
def operator(client, db):
    user = User.objects.create_superuser("root@platform.example", "root-pass-2026")
    client.force_login(user)
    return client


def assert_no_globex(response) -> None:
    assert_no_names(response, GLOBEX_NAMES)


def select_options(response, name: str) -> set[str]:
    """The values a ``<select name=...>`` offers, the empty choice left out."""
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', text(response), re.S)
    assert match, f"no <select name={name!r}> on the page"
    return {value for value in re.findall(r'<option value="([^"]*)"', match.group(1)) if value}


def member_of(member: Member, company: Company) -> Member:
    with company_context(company.id):
        return Member.objects.select_related("user").get(pk=member.pk)


# --- Who gets in -----------------------------------------------------------------------------------


def test_company_admin_sees_their_company_sections_and_name(acme_admin):
    # when the company admin opens the admin
    response = acme_admin.get(ADMIN)
    # then it offers the organization of their company, titled with its name
    assert response.status_code == 200
    page = text(response)
    for section in ["Departments", "Teams", "People", "API tokens"]:
        assert section in page
    assert "Acme administration" in page
    assert "KPI Platform" in page
    # and nothing global: no companies, no groups
    assert "Companies" not in page
    assert "Groups" not in page


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEAD, Role.MEMBER])
@pytest.mark.parametrize("url", [ADMIN, "/admin/orgs/member/", "/admin/orgs/department/add/"])
def test_managers_leads_and_members_get_the_login_page(client, company, make_member, role, url):
    # given a signed-in person who is no company admin
    client.force_login(make_member(company, role).user)
    # when they open an admin page
    response = client.get(url)
    # then they are sent to the admin's sign-in page
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_a_staff_user_without_the_admin_role_sees_nothing(client, company, make_member):
    # given a manager whose account is marked staff by mistake
    manager = make_member(company, Role.MANAGER)
    User.objects.filter(pk=manager.user.pk).update(is_staff=True)
    client.force_login(manager.user)
    # when they open the admin and a company page
    index = client.get(ADMIN)
    people = client.get("/admin/orgs/member/")
    # then no section is offered and the page is refused
    assert "People" not in text(index)
    assert people.status_code == 403


def test_platform_operator_sees_companies_and_no_company_data(operator, acme, globex):
    # when the platform operator opens the admin
    index = operator.get(ADMIN)
    companies = operator.get("/admin/orgs/company/")
    # then they see the companies
    assert "Companies" in text(index)
    assert "Platform administration" in text(index)
    assert "Departments" not in text(index)
    assert "Acme" in text(companies)
    assert "Globex" in text(companies)
    # and no company's data, whatever the page
    for url in [
        "/admin/orgs/department/",
        f"/admin/orgs/department/{acme.sales.pk}/change/",
        "/admin/orgs/team/",
        "/admin/orgs/member/",
        "/admin/orgs/member/add/",
        "/admin/orgs/apitoken/",
        "/admin/autocomplete/?app_label=orgs&model_name=department&field_name=managers",
    ]:
        assert operator.get(url).status_code == 403, url


def test_platform_operator_creates_a_company_through_the_service(operator):
    # when the operator adds a company
    response = operator.post(
        "/admin/orgs/company/add/",
        {
            "name": "Initech",
            "slug": "initech",
            "time_zone": "Europe/Moscow",
            "default_language": "ru",
            "languages": ["en", "ru"],
            "primary_frequency": "quarterly",
            "secondary_frequency": "daily",
        },
    )
    # then it exists with everything chosen
    assert response.status_code == 302
    company = Company.objects.get(slug="initech")
    assert (company.name, company.time_zone, company.default_language) == ("Initech", "Europe/Moscow", "ru")
    assert company.languages == ["en", "ru"]
    assert (company.primary_frequency, company.secondary_frequency) == ("quarterly", "daily")


def test_platform_operator_edits_a_company_and_an_invalid_choice_is_a_form_error(operator, company):
    data = {
        "name": "Acme Corp",
        "time_zone": "Asia/Tokyo",
        "default_language": "en",
        "languages": ["en"],
        "primary_frequency": "weekly",
        "secondary_frequency": "weekly",
    }
    # when the operator edits the company, once with a default language that is not enabled
    refused = operator.post(f"/admin/orgs/company/{company.pk}/change/", {**data, "default_language": "ru"})
    saved = operator.post(f"/admin/orgs/company/{company.pk}/change/", data)
    # then the first is a form error and the second is saved
    assert refused.status_code == 200
    assert "The default language must be one of the enabled languages." in text(refused)
    assert saved.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.time_zone, company.languages) == ("Acme Corp", "Asia/Tokyo", ["en"])


def test_company_admin_cannot_open_companies(acme_admin, acme, globex):
    for url in [
        "/admin/orgs/company/",
        "/admin/orgs/company/add/",
        f"/admin/orgs/company/{globex.company.pk}/change/",
    ]:
        assert acme_admin.get(url).status_code == 403, url


# --- Isolation: nothing of another company, on any page --------------------------------------------

CHANGELISTS = ["/admin/orgs/department/", "/admin/orgs/team/", "/admin/orgs/member/", "/admin/orgs/apitoken/"]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_show_only_the_admins_company(acme_admin, acme, globex, url):
    # when the company admin opens a list
    response = acme_admin.get(url)
    # then it shows their company's rows and none of the other's
    assert response.status_code == 200
    assert_no_globex(response)
    assert any(name in text(response) for name in ["Sales", "Hunters", "alice@acme.example", "Acme CRM"])


def _globex_object_urls(globex) -> list[str]:
    urls = []
    for model, pk in [
        ("department", globex.department.pk),
        ("team", globex.team.pk),
        ("member", globex.person.pk),
        ("apitoken", globex.token.pk),
    ]:
        urls += [f"/admin/orgs/{model}/{pk}/change/", f"/admin/orgs/{model}/{pk}/history/"]
    urls += [
        f"/admin/orgs/department/{globex.department.pk}/delete/",
        f"/admin/orgs/team/{globex.team.pk}/delete/",
    ]
    return urls


def test_another_companys_objects_are_not_found_on_every_object_page(acme_admin, acme, globex):
    for url in _globex_object_urls(globex):
        # when the company admin opens a page of another company's object
        response = acme_admin.get(url)
        # then it does not exist for them, and the page they land on shows nothing of it
        assert_not_found_redirect(response)
        landing = acme_admin.get(response.url)
        assert "doesn’t exist" in text(landing), url
        assert_no_globex(landing)


def test_posting_to_another_companys_objects_changes_and_deletes_nothing(acme_admin, acme, globex):
    # when the company admin posts changes and deletions to another company's objects
    posts = [
        (f"/admin/orgs/department/{globex.department.pk}/change/", {"name": "Hacked"}),
        (f"/admin/orgs/department/{globex.department.pk}/delete/", {"post": "yes"}),
        (
            f"/admin/orgs/team/{globex.team.pk}/change/",
            {"name": "Hacked", "department": acme.sales.pk},
        ),
        (f"/admin/orgs/team/{globex.team.pk}/delete/", {"post": "yes"}),
        (
            f"/admin/orgs/member/{globex.person.pk}/change/",
            {"email": "zed@globex.example", "first_name": "Hacked", "role": "admin", "is_active": ""},
        ),
    ]
    for url, data in posts:
        assert_not_found_redirect(acme_admin.post(url, data))
    # then every row of the other company is as it was
    assert reload(globex.department, globex.company).name == "Globex Secret Dept"
    team = reload(globex.team, globex.company)
    assert (team.name, team.department_id) == ("Globex Secret Team", globex.department.pk)
    person = member_of(globex.person, globex.company)
    assert (person.user.first_name, person.user.is_active, person.role) == ("Zed", True, Role.MANAGER)


def test_form_choices_offer_only_the_admins_company(acme_admin, acme, globex):
    # when the company admin opens the forms with foreign keys
    team_add = acme_admin.get("/admin/orgs/team/add/")
    person_add = acme_admin.get("/admin/orgs/member/add/")
    person_change = acme_admin.get(f"/admin/orgs/member/{acme.alice.pk}/change/")
    # then every choice is a row of their company
    departments = {str(acme.sales.pk), str(acme.support.pk)}
    teams = {str(acme.hunters.pk), str(acme.farmers.pk)}
    assert select_options(team_add, "department") == departments
    assert select_options(person_add, "department") == departments
    assert select_options(person_add, "team") == teams
    assert select_options(person_change, "team") == teams
    for response in [team_add, person_add, person_change]:
        assert_no_globex(response)


def test_department_and_team_forms_show_only_chosen_managers_and_leads_of_the_company(
    acme_admin, acme, globex
):
    # given Alice manages Sales
    with company_context(acme.company.id):
        services.department_update(department=acme.sales, managers=[acme.alice])
    # when the admin opens the department and a team
    department = acme_admin.get(f"/admin/orgs/department/{acme.sales.pk}/change/")
    team = acme_admin.get(f"/admin/orgs/team/{acme.hunters.pk}/change/")
    # then the managers widget holds Alice only, the team's department choices are Acme's
    assert select_options(department, "managers") == {str(acme.alice.pk)}
    assert select_options(team, "leads") == set()
    assert select_options(team, "department") == {str(acme.sales.pk), str(acme.support.pk)}
    assert_no_globex(department)
    assert_no_globex(team)


@pytest.mark.parametrize(
    ("url", "data_of"),
    [
        ("/admin/orgs/team/add/", lambda acme, globex: {"name": "Spies", "department": globex.department.pk}),
        (
            "/admin/orgs/department/add/",
            lambda acme, globex: {"name": "Spies", "managers": [globex.person.pk]},
        ),
        (
            "/admin/orgs/team/add/",
            lambda acme, globex: {"name": "Spies", "department": acme.sales.pk, "leads": [globex.person.pk]},
        ),
        (
            "/admin/orgs/member/add/",
            lambda acme, globex: {
                "email": "spy@acme.example",
                "role": "member",
                "team": globex.team.pk,
                "is_active": "on",
            },
        ),
        (
            "/admin/orgs/member/add/",
            lambda acme, globex: {
                "email": "spy@acme.example",
                "role": "member",
                "department": globex.department.pk,
                "is_active": "on",
            },
        ),
    ],
)
def test_choosing_another_companys_row_in_a_form_is_refused(acme_admin, acme, globex, url, data_of):
    departments, teams = rows(Department, acme.company).count(), rows(Team, acme.company).count()
    # when the admin posts an id of the other company in a choice
    response = acme_admin.post(url, data_of(acme, globex))
    # then the form refuses it and nothing is created
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert rows(Department, acme.company).count() == departments
    assert rows(Team, acme.company).count() == teams
    assert not User.objects.filter(email="spy@acme.example").exists()
    assert_no_globex(response)


@pytest.mark.parametrize(("model_name", "field_name"), [("department", "managers"), ("team", "leads")])
def test_autocomplete_returns_only_the_admins_company(acme_admin, acme, globex, model_name, field_name):
    url = f"/admin/autocomplete/?app_label=orgs&model_name={model_name}&field_name={field_name}"
    # when the admin looks people up, with no term and with the other company's names
    everyone = acme_admin.get(url).json()
    globex_term = acme_admin.get(f"{url}&term=globex").json()
    # then only their company's people come back
    assert {result["id"] for result in everyone["results"]} == {
        str(member.pk) for member in [acme.admin, acme.alice, acme.bob, acme.carol]
    }
    assert globex_term["results"] == []


def test_list_filters_offer_only_the_admins_company(acme_admin, acme, globex):
    # when the admin opens the people and teams lists with their filters
    people = text(acme_admin.get("/admin/orgs/member/"))
    teams = text(acme_admin.get("/admin/orgs/team/"))
    # then the filter choices are their company's departments and teams only
    assert set(re.findall(r"department__id__exact=(\d+)", people)) == {
        str(acme.sales.pk),
        str(acme.support.pk),
    }
    assert set(re.findall(r"team__id__exact=(\d+)", people)) == {str(acme.hunters.pk), str(acme.farmers.pk)}
    assert set(re.findall(r"department__id__exact=(\d+)", teams)) == {
        str(acme.sales.pk),
        str(acme.support.pk),
    }
    manages = set(re.findall(r"manages=(\w+%3A\d+|\w+:\d+)", people))
    assert f"department%3A{globex.department.pk}" not in manages
    assert f"department:{globex.department.pk}" not in manages
    for page in [people, teams]:
        assert not any(name in page for name in GLOBEX_NAMES)


def test_filtering_or_searching_for_another_companys_rows_finds_nothing(acme_admin, acme, globex):
    for url in [
        f"/admin/orgs/member/?department__id__exact={globex.department.pk}",
        f"/admin/orgs/member/?team__id__exact={globex.team.pk}",
        f"/admin/orgs/member/?manages=department:{globex.department.pk}",
        "/admin/orgs/member/?q=globex",
        "/admin/orgs/department/?q=Secret",
        "/admin/orgs/team/?q=Secret",
        "/admin/orgs/apitoken/?q=Globex",
    ]:
        # when the admin filters or searches for the other company's rows
        response = acme_admin.get(url)
        # then nothing of it is listed
        assert response.status_code == 200, url
        assert_no_globex(response)
        assert 'name="_selected_action"' not in text(response), url


def test_actions_ignore_another_companys_rows(acme_admin, acme, globex):
    # when the admin runs every action on ids of the other company
    acme_admin.post(
        "/admin/orgs/member/",
        {
            "action": "move_to_team",
            "_selected_action": [globex.person.pk],
            "apply": "yes",
            "team": acme.farmers.pk,
        },
    )
    acme_admin.post(
        "/admin/orgs/apitoken/", {"action": "revoke", "_selected_action": [globex.token.pk], "index": 0}
    )
    acme_admin.post(
        "/admin/orgs/department/",
        {"action": "delete_selected", "_selected_action": [globex.department.pk], "post": "yes"},
    )
    acme_admin.post(
        "/admin/orgs/team/",
        {"action": "delete_selected", "_selected_action": [globex.team.pk], "post": "yes"},
    )
    # then the other company's rows are untouched
    assert member_of(globex.person, globex.company).team_id == globex.team.pk
    assert reload(globex.token, globex.company).revoked_at is None
    assert reload(globex.department, globex.company).name == "Globex Secret Dept"
    assert reload(globex.team, globex.company).name == "Globex Secret Team"


def test_actions_on_a_mix_touch_only_the_admins_rows(acme_admin, acme, globex):
    # when the admin moves a mix of their people and the other company's to a team
    acme_admin.post(
        "/admin/orgs/member/",
        {
            "action": "move_to_team",
            "_selected_action": [acme.carol.pk, globex.person.pk],
            "apply": "yes",
            "team": acme.farmers.pk,
        },
    )
    # then only their own person moved
    assert member_of(acme.carol, acme.company).team_id == acme.farmers.pk
    assert member_of(globex.person, globex.company).team_id == globex.team.pk


def test_the_move_action_refuses_another_companys_team(acme_admin, acme, globex):
    # when the admin picks a team of the other company on the move page
    response = acme_admin.post(
        "/admin/orgs/member/",
        {
            "action": "move_to_team",
            "_selected_action": [acme.carol.pk],
            "apply": "yes",
            "team": globex.team.pk,
        },
    )
    # then the page refuses it and nobody moves
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert member_of(acme.carol, acme.company).team_id is None


def test_the_delete_page_offers_only_the_admins_units_to_move_people_to(acme_admin, acme, globex):
    # when the admin opens the delete pages
    department = acme_admin.get(f"/admin/orgs/department/{acme.sales.pk}/delete/")
    team = acme_admin.get(f"/admin/orgs/team/{acme.hunters.pk}/delete/")
    # then "move people to" offers their other units only
    assert select_options(department, "move_to") == {str(acme.support.pk)}
    assert select_options(team, "move_to") == {str(acme.farmers.pk)}
    # and choosing the other company's unit is refused, nothing deleted
    response = acme_admin.post(
        f"/admin/orgs/department/{acme.sales.pk}/delete/", {"move_to": globex.department.pk}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert rows(Department, acme.company).filter(pk=acme.sales.pk).exists()


# --- Organization: departments, teams, people (O5) --------------------------------------------------


def test_adding_a_department_with_managers_goes_through_the_service(acme_admin, acme):
    # when the admin adds a department managed by Alice
    response = acme_admin.post(
        "/admin/orgs/department/add/", {"name": " Marketing ", "managers": [acme.alice.pk]}
    )
    # then it is created as the service does it: trimmed name, Alice a department manager
    assert response.status_code == 302
    with company_context(acme.company.id):
        marketing = Department.objects.get(name="Marketing")
        assert list(marketing.managers.all()) == [acme.alice]
        assert Member.objects.get(pk=acme.alice.pk).role == Role.MANAGER


def test_a_duplicate_department_name_is_a_form_error_not_a_500(acme_admin, acme):
    # when the admin adds a department whose name exists in another case
    response = acme_admin.post("/admin/orgs/department/add/", {"name": "SALES"})
    # then the service's refusal is shown on the form and nothing is created
    assert response.status_code == 200
    assert "A department with this name already exists." in text(response)
    assert rows(Department, acme.company).count() == 2


def test_renaming_a_team_and_setting_its_leads_goes_through_the_service(acme_admin, acme):
    # when the admin renames Hunters, moves it to Support and makes Bob its lead
    response = acme_admin.post(
        f"/admin/orgs/team/{acme.hunters.pk}/change/",
        {"name": "Closers", "department": acme.support.pk, "leads": [acme.bob.pk]},
    )
    # then the team changed and its people followed it to the department (O3)
    assert response.status_code == 302
    team = reload(acme.hunters, acme.company)
    assert (team.name, team.department_id) == ("Closers", acme.support.pk)
    alice, bob = member_of(acme.alice, acme.company), member_of(acme.bob, acme.company)
    assert (alice.department_id, bob.department_id) == (acme.support.pk, acme.support.pk)
    assert bob.role == Role.LEAD


def test_the_department_page_lists_its_teams(acme_admin, acme):
    response = acme_admin.get(f"/admin/orgs/department/{acme.sales.pk}/change/")
    page = text(response)
    assert "Hunters" in page
    assert "Farmers" in page
    assert f"/admin/orgs/team/add/?department={acme.sales.pk}" in page


def test_adding_a_person_creates_their_user_through_the_service(acme_admin, acme):
    # when the admin adds an administrator in Farmers
    response = acme_admin.post(
        "/admin/orgs/member/add/",
        {
            "email": "Dave@Acme.example",
            "first_name": "Dave",
            "last_name": "Dunn",
            "language": "ru",
            "is_active": "on",
            "password": "a-long-pass-2026",
            "role": "admin",
            "team": acme.farmers.pk,
            "external_id": "crm-dave",
        },
    )
    # then the user and the member exist as member_create makes them
    assert response.status_code == 302
    user = User.objects.get(email="dave@acme.example")
    assert (user.company_id, user.is_staff, user.language) == (acme.company.id, True, "ru")
    assert user.check_password("a-long-pass-2026")
    with company_context(acme.company.id):
        member = Member.objects.get(pk=user.pk)
    assert (member.role, member.team_id, member.department_id) == (Role.ADMIN, acme.farmers.pk, acme.sales.pk)
    assert member.external_id == "crm-dave"


def test_an_email_of_another_company_adds_a_separate_person_and_reveals_nothing(acme_admin, acme, globex):
    """O3, issue 17: the address another company uses is no "already in use" (an oracle, and a
    squatter's block) but an account of Acme's own; Globex's person stays as they were."""
    # given Globex's Zed as they are
    with company_context(globex.company.id):
        theirs = Member.objects.values_list("user__email", "user__first_name", "role", "team_id").get(
            pk=globex.person.pk
        )
    # when Acme's admin adds a person with Zed's address
    response = acme_admin.post(
        "/admin/orgs/member/add/",
        {"email": "ZED@globex.example", "first_name": "Zoe", "role": "member", "is_active": "on"},
    )
    # then Acme has a person of its own with that address, and the pages show nothing of Globex's
    assert response.status_code == 302, text(response)
    with company_context(acme.company.id):
        ours = Member.objects.select_related("user").get(user__email="zed@globex.example")
    assert (ours.user.company_id, ours.user.first_name) == (acme.company.id, "Zoe")
    listed = acme_admin.get("/admin/orgs/member/", {"q": "zed@globex.example"})
    assert [member.pk for member in listed.context["cl"].result_list] == [ours.pk]
    assert "Globexian" not in text(listed)
    # and Globex's Zed is untouched
    with company_context(globex.company.id):
        assert (
            Member.objects.values_list("user__email", "user__first_name", "role", "team_id").get(
                pk=globex.person.pk
            )
            == theirs
        )


def test_an_email_in_use_in_the_same_company_is_a_form_error(acme_admin, acme):
    response = acme_admin.post(
        "/admin/orgs/member/add/", {"email": "Alice@acme.example", "role": "member", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "This e-mail address is already in use." in text(response)


def test_changing_a_persons_team_and_role_goes_through_the_service(acme_admin, acme):
    # when the admin moves Carol into Farmers and makes her inactive
    response = acme_admin.post(
        f"/admin/orgs/member/{acme.carol.pk}/change/",
        {
            "email": "carol@acme.example",
            "first_name": "Carol",
            "last_name": "Cole",
            "language": "",
            "role": "member",
            "department": acme.sales.pk,
            "team": acme.farmers.pk,
            "external_id": "",
        },
    )
    # then she is in Farmers and can no longer sign in
    assert response.status_code == 302
    carol = member_of(acme.carol, acme.company)
    assert (carol.team_id, carol.department_id, carol.user.is_active) == (
        acme.farmers.pk,
        acme.sales.pk,
        False,
    )


def test_a_team_of_another_department_is_a_form_error(acme_admin, acme):
    # when the admin puts Carol in Support but in a team of Sales
    response = acme_admin.post(
        f"/admin/orgs/member/{acme.carol.pk}/change/",
        {
            "email": "carol@acme.example",
            "role": "member",
            "department": acme.support.pk,
            "team": acme.farmers.pk,
            "is_active": "on",
        },
    )
    # then the service's rule is shown on the form and nothing changed
    assert response.status_code == 200
    assert "The team belongs to another department." in text(response)
    carol = member_of(acme.carol, acme.company)
    assert (carol.department_id, carol.team_id) == (acme.sales.pk, None)


def test_an_admin_cannot_take_away_their_own_admin_role(acme_admin, acme):
    response = acme_admin.post(
        f"/admin/orgs/member/{acme.admin.pk}/change/",
        {"email": "admin@acme.example", "role": "member", "is_active": "on"},
    )
    assert response.status_code == 200
    assert "You cannot take away your own administrator role." in text(response)
    assert member_of(acme.admin, acme.company).role == Role.ADMIN


def test_people_cannot_be_deleted_in_the_admin(acme_admin, acme):
    response = acme_admin.post(f"/admin/orgs/member/{acme.alice.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert rows(Member, acme.company).filter(pk=acme.alice.pk).exists()


def test_the_people_list_offers_administrators_and_managers_views(acme_admin, acme):
    # given Carol manages Support
    with company_context(acme.company.id):
        services.department_update(department=acme.support, managers=[acme.carol])
    # when the admin opens the administrators and the managers views
    admins = text(acme_admin.get("/admin/orgs/member/?role__exact=admin"))
    managers = text(acme_admin.get(f"/admin/orgs/member/?manages=department:{acme.support.pk}"))
    everyone = text(acme_admin.get("/admin/orgs/member/"))
    # then each lists the right people
    assert "admin@acme.example" in admins
    assert "alice@acme.example" not in admins
    assert "carol@acme.example" in managers
    assert "alice@acme.example" not in managers
    assert "?role__exact=admin" in everyone
    assert "?manages=any" in everyone


def test_the_move_action_moves_the_selected_people(acme_admin, acme):
    # when the admin selects Alice and Carol and chooses "Move to team…"
    page = acme_admin.post(
        "/admin/orgs/member/",
        {"action": "move_to_team", "_selected_action": [acme.alice.pk, acme.carol.pk], "index": 0},
    )
    # then an intermediate page offers the company's teams
    assert page.status_code == 200
    assert select_options(page, "team") == {str(acme.hunters.pk), str(acme.farmers.pk)}
    # when they pick Farmers
    done = acme_admin.post(
        "/admin/orgs/member/",
        {
            "action": "move_to_team",
            "_selected_action": [acme.alice.pk, acme.carol.pk],
            "apply": "yes",
            "team": acme.farmers.pk,
        },
    )
    # then both are in Farmers, and Bob, not selected, stayed
    assert done.status_code == 302
    assert member_of(acme.alice, acme.company).team_id == acme.farmers.pk
    assert member_of(acme.carol, acme.company).team_id == acme.farmers.pk
    assert member_of(acme.bob, acme.company).team_id == acme.hunters.pk
    assert "Moved 2 people to Sales / Farmers." in text(acme_admin.get(done.url))


# --- Deleting units keeps every person (O6) -----------------------------------------------------------


def test_the_department_delete_page_shows_what_it_affects(acme_admin, acme):
    response = acme_admin.get(f"/admin/orgs/department/{acme.sales.pk}/delete/")
    page = text(response)
    assert response.status_code == 200
    assert "2 teams are deleted with it." in page
    assert "3 people are affected; nobody is deleted." in page


def test_deleting_a_department_in_the_admin_keeps_every_person(acme_admin, acme):
    people = rows(Member, acme.company).count()
    # when the admin deletes Sales and moves its people to Support
    response = acme_admin.post(
        f"/admin/orgs/department/{acme.sales.pk}/delete/", {"move_to": acme.support.pk}
    )
    # then Sales and its teams are gone and everyone is in Support
    assert response.status_code == 302
    assert rows(Member, acme.company).count() == people
    assert not rows(Department, acme.company).filter(pk=acme.sales.pk).exists()
    assert not rows(Team, acme.company).exists()
    for person in [acme.alice, acme.bob, acme.carol]:
        moved = member_of(person, acme.company)
        assert (moved.department_id, moved.team_id) == (acme.support.pk, None)
    assert "3 people moved to Support." in text(acme_admin.get(response.url))


def test_deleting_a_team_keeps_its_people_in_the_department(acme_admin, acme):
    people = rows(Member, acme.company).count()
    # when the admin deletes Hunters without choosing where its people go
    response = acme_admin.post(f"/admin/orgs/team/{acme.hunters.pk}/delete/", {"move_to": ""})
    # then Alice and Bob are still in Sales, without a team
    assert response.status_code == 302
    assert rows(Member, acme.company).count() == people
    for person in [acme.alice, acme.bob]:
        kept = member_of(person, acme.company)
        assert (kept.department_id, kept.team_id) == (acme.sales.pk, None)


def test_deleting_selected_departments_shows_the_summary_and_keeps_every_person(acme_admin, acme):
    people = rows(Member, acme.company).count()
    selection = {"action": "delete_selected", "_selected_action": [acme.sales.pk, acme.support.pk]}
    # when the admin chooses "Delete selected departments"
    page = acme_admin.post("/admin/orgs/department/", {**selection, "index": 0})
    # then the summary is shown first
    assert page.status_code == 200
    assert "2 teams are deleted with it." in text(page)
    assert "3 people are affected; nobody is deleted." in text(page)
    # when they confirm
    done = acme_admin.post("/admin/orgs/department/", {**selection, "post": "yes", "move_to": ""})
    # then the departments are gone and nobody is lost
    assert done.status_code == 302
    assert not rows(Department, acme.company).exists()
    assert rows(Member, acme.company).count() == people
    assert all(member.department_id is None for member in rows(Member, acme.company))


# --- API tokens (I2) --------------------------------------------------------------------------------


def test_the_token_secret_is_shown_once(acme_admin, acme):
    # when the admin creates a token
    response = acme_admin.post(
        "/admin/orgs/apitoken/add/", {"name": "Billing", "scopes": ["read", "actions"]}
    )
    # then the answer shows the secret, and only its hash is stored
    assert response.status_code == 200
    secret = re.search(r'<code id="api-token-secret">([^<]+)</code>', text(response)).group(1)
    with company_context(acme.company.id):
        token = ApiToken.objects.get(name="Billing")
    assert token.token_hash == hash_token(secret)
    assert (token.scopes, token.created_by_id) == (["read", "actions"], acme.admin.pk)
    # and no page shows it again, nor its hash
    for url in ["/admin/orgs/apitoken/", f"/admin/orgs/apitoken/{token.pk}/change/", ADMIN]:
        page = text(acme_admin.get(url))
        assert secret not in page, url
        assert token.token_hash not in page, url
        assert token.prefix in page or url == ADMIN


def test_a_token_without_scopes_is_a_form_error(acme_admin, acme):
    response = acme_admin.post("/admin/orgs/apitoken/add/", {"name": "Billing"})
    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert not rows(ApiToken, acme.company).filter(name="Billing").exists()


def test_tokens_cannot_be_edited_or_deleted(acme_admin, acme):
    change = acme_admin.post(f"/admin/orgs/apitoken/{acme.token.pk}/change/", {"name": "Renamed"})
    delete = acme_admin.post(f"/admin/orgs/apitoken/{acme.token.pk}/delete/", {"post": "yes"})
    assert (change.status_code, delete.status_code) == (403, 403)
    assert reload(acme.token, acme.company).name == "Acme CRM"


def test_the_revoke_action_revokes_the_selected_tokens(acme_admin, acme):
    # when the admin revokes the token
    response = acme_admin.post(
        "/admin/orgs/apitoken/", {"action": "revoke", "_selected_action": [acme.token.pk], "index": 0}
    )
    # then it is revoked
    assert response.status_code == 302
    assert reload(acme.token, acme.company).revoked_at is not None


# --- Query counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_run_a_constant_number_of_queries(acme_admin, acme, make_member, url):
    # given the lists with few rows
    acme_admin.get(url)  # warm the session and the content types
    with CaptureQueriesContext(connection) as few:
        acme_admin.get(url)
    # and with many more (people in teams, managers, leads, departments, tokens)
    with company_context(acme.company.id):
        for n in range(5):
            department = services.department_create(name=f"Extra {n}", managers=[acme.alice])
            team = services.team_create(name=f"Extra team {n}", department=department, leads=[acme.bob])
            services.api_token_create(name=f"Extra token {n}", scopes=["read"])
    for n in range(5):
        make_member(acme.company, team=team, email=f"extra{n}@acme.example")
    with CaptureQueriesContext(connection) as many:
        acme_admin.get(url)
    # then the count does not grow with the rows
    assert len(many) == len(few), [query["sql"] for query in many.captured_queries]


# --- Every page renders; a late refusal is a message -------------------------------------------------


def test_every_admin_page_of_the_company_renders(acme_admin, acme, globex):
    # given a log entry, so that history pages have something to show
    acme_admin.post(f"/admin/orgs/department/{acme.support.pk}/change/", {"name": "Customer care"})
    urls = [
        *CHANGELISTS,
        "/admin/orgs/",
        "/admin/orgs/member/?role__exact=admin",
        "/admin/orgs/member/?manages=any",
        "/admin/orgs/member/?_facets=True",
        "/admin/orgs/team/?_facets=True",
        f"/admin/orgs/member/?team__id__exact={acme.hunters.pk}",
        "/admin/orgs/apitoken/?status=revoked",
    ]
    for model, pk in [
        ("department", acme.support.pk),
        ("team", acme.hunters.pk),
        ("member", acme.alice.pk),
        ("apitoken", acme.token.pk),
    ]:
        urls += [f"/admin/orgs/{model}/{pk}/change/", f"/admin/orgs/{model}/{pk}/history/"]
        if model != "apitoken":
            urls.append(f"/admin/orgs/{model}/add/")
    urls += ["/admin/orgs/apitoken/add/", f"/admin/orgs/team/{acme.hunters.pk}/delete/"]
    for url in urls:
        # when the company admin opens it
        response = acme_admin.get(url)
        # then it renders, with nothing of the other company
        assert response.status_code == 200, url
        assert_no_globex(response)


def test_every_company_page_of_the_platform_operator_renders(operator, company):
    for url in [
        "/admin/orgs/company/",
        "/admin/orgs/company/add/",
        f"/admin/orgs/company/{company.pk}/change/",
    ]:
        assert operator.get(url).status_code == 200, url


def test_a_save_the_service_refuses_after_validation_is_a_message_not_a_500(acme_admin, acme, monkeypatch):
    # given a service that accepts the rehearsal and refuses the real save (another write got in)
    calls = []
    real = services.department_create

    def refuse_second_call(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise DomainError("name_taken", "A department with this name already exists.", field="name")
        return real(**kwargs)

    monkeypatch.setattr(services, "department_create", refuse_second_call)
    # when the admin adds a department
    response = acme_admin.post("/admin/orgs/department/add/", {"name": "Marketing"})
    # then they are sent back with the service's message, and nothing was saved
    assert response.status_code == 302
    assert "A department with this name already exists." in text(acme_admin.get(response.url))
    assert not rows(Department, acme.company).filter(name="Marketing").exists()


# --- In a browser ----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_company_admin_works_through_the_organization_in_a_browser(
    acme, live_server, screenshot, browser_page
):
    # given a browser, signed in to the admin as Acme's admin
    def shot(page, name: str) -> None:
        screenshot(page, f"admin-{name}")

    page = browser_page
    sign_in_to_the_admin(page, live_server, "admin@acme.example", "pass-2026-word")
    assert "Acme administration" in page.inner_text("#content")
    shot(page, "index")
    # when they move Alice and Carol to Farmers from the people list
    page.goto(f"{live_server.url}/admin/orgs/member/")
    shot(page, "people")
    page.check(f"input[name=_selected_action][value='{acme.alice.pk}']")
    page.check(f"input[name=_selected_action][value='{acme.carol.pk}']")
    page.select_option("select[name=action]", "move_to_team")
    page.click("button[name=index]")
    shot(page, "move-to-team")
    page.select_option("select[name=team]", str(acme.farmers.pk))
    page.click("input[type=submit]")
    # then the list says so
    assert "Moved 2 people to Sales / Farmers." in page.inner_text(".messagelist")
    # and the forms of a department (managers picked by autocomplete) and of a new person
    page.goto(f"{live_server.url}/admin/orgs/department/{acme.sales.pk}/change/")
    page.click(".select2-selection")
    page.keyboard.type("ali")
    page.wait_for_function(
        "[...document.querySelectorAll('.select2-results__option')].map(o => o.innerText).join() "
        "=== 'Alice Archer'"
    )
    shot(page, "department-change")
    page.goto(f"{live_server.url}/admin/orgs/member/add/")
    shot(page, "person-add")
    # when they open the deletion of Sales
    page.goto(f"{live_server.url}/admin/orgs/department/{acme.sales.pk}/delete/")
    shot(page, "department-delete")
    assert "2 teams are deleted with it." in page.inner_text("#deletion-totals")
    # and create an API token
    page.goto(f"{live_server.url}/admin/orgs/apitoken/add/")
    page.fill("#id_name", "Billing")
    page.check("input[name=scopes][value=read]")
    page.click("input[name=_save]")
    secret = page.inner_text("#api-token-secret")
    shot(page, "token-created")
    # then the secret is a token of Acme
    assert secret.startswith(f"kpi_{acme.company.id}_")


def test_the_admins_view_on_site_shortcut_is_not_offered(company, other_company, admin_member, client):
    # given a company admin and a team of another company
    from orgs.tests.factories import DepartmentFactory

    with company_context(other_company.id):
        foreign = DepartmentFactory()
    content_type = ContentType.objects.get_for_model(foreign)
    client.force_login(admin_member.user)
    # when they use Django's shortcut on an existing and on a missing id, then both answer alike
    existing = client.get(f"/admin/r/{content_type.id}/{foreign.id}/")
    missing = client.get(f"/admin/r/{content_type.id}/999999/")
    assert (existing.status_code, missing.status_code) == (404, 404)
    assert existing.content == missing.content
