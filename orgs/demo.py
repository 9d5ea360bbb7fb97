"""The demo company of ``make run`` (``manage.py seed_demo``; API.md, "Pages and the demo company").

Built in steps that share one ``Demo``: each step finds what an earlier step made by name, creates
only what is missing, and writes only through the apps' services inside the demo company's
context, so a second run changes nothing. Nothing is random; a step that wants variety draws from
``demo.rng``, which is seeded.

The steps are functions ``step(demo: Demo) -> None`` connected to ``kpi_platform.hooks.demo_steps``
by the app that owns the data, in its ``AppConfig.ready``, so they run in the order of
``INSTALLED_APPS``: this app's organization first, then units, KPIs in two languages, targets
(kpis) and months of actions (ratings).
"""

import random
from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction

from kpi_platform import hooks
from orgs import services
from orgs.models import Company, Department, Member, Role, Team, User
from orgs.tenancy import company_context

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Company"
DEMO_LANGUAGES = ["en", "ru"]
DEMO_TIME_ZONE = "Europe/Moscow"
DEMO_URL = "http://127.0.0.1:8000/"
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published demo data, printed by `make run`
EMAIL_DOMAIN = "demo.example"

ADMIN_EMAIL = f"admin@{EMAIL_DOMAIN}"
MANAGER_EMAIL = f"manager@{EMAIL_DOMAIN}"
LEAD_EMAIL = f"lead@{EMAIL_DOMAIN}"
MEMBER_EMAIL = f"member@{EMAIL_DOMAIN}"
ROOT_EMAIL = f"root@{EMAIL_DOMAIN}"

# The sign-ins `make run` prints, all with DEMO_PASSWORD. The rest of the people have no usable
# password (as if not invited yet): hashing one costs half a second each.
SIGN_INS = (
    (ADMIN_EMAIL, "company admin (also /admin/)"),
    (MANAGER_EMAIL, 'manager of the department "Sales"'),
    (LEAD_EMAIL, 'lead of the team "Enterprise Sales"'),
    (MEMBER_EMAIL, 'member of the team "Enterprise Sales"'),
    (ROOT_EMAIL, "platform operator (superuser, no company)"),
)


# --- What the demo holds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoTeam:
    name: str
    leads: tuple[str, ...]  # e-mails


@dataclass(frozen=True)
class DemoDepartment:
    name: str
    managers: tuple[str, ...]  # e-mails
    teams: tuple[DemoTeam, ...]


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    role: str = Role.MEMBER
    team: str | None = None  # a team's name (unique across the demo)
    department: str | None = None  # directly in a department, without a team
    email: str = ""  # default: first.last@demo.example
    external_id: str = ""
    language: str = ""

    @property
    def address(self) -> str:
        return self.email or f"{self.first_name}.{self.last_name}@{EMAIL_DOMAIN}".lower()


DEPARTMENTS = (
    DemoDepartment(
        "Sales",
        managers=(MANAGER_EMAIL,),
        teams=(
            DemoTeam("Enterprise Sales", leads=(LEAD_EMAIL,)),
            DemoTeam("Mid-Market Sales", leads=(f"noah.parker@{EMAIL_DOMAIN}",)),
        ),
    ),
    DemoDepartment(
        "Customer Success",
        managers=(f"sophia.turner@{EMAIL_DOMAIN}",),
        teams=(
            DemoTeam("Onboarding", leads=(f"ava.mitchell@{EMAIL_DOMAIN}",)),
            DemoTeam("Support", leads=(f"mason.reed@{EMAIL_DOMAIN}", f"dmitry.sokolov@{EMAIL_DOMAIN}")),
        ),
    ),
)

PEOPLE = (
    # The company's administrators: above every unit.
    DemoPerson("Olivia", "Bennett", Role.ADMIN, email=ADMIN_EMAIL),
    DemoPerson("Charlotte", "Hughes", Role.ADMIN),
    # Sales
    DemoPerson("James", "Carter", Role.MANAGER, department="Sales", email=MANAGER_EMAIL),
    DemoPerson("Harper", "Lewis", department="Sales"),
    DemoPerson("Emma", "Collins", Role.LEAD, team="Enterprise Sales", email=LEAD_EMAIL),
    DemoPerson("Liam", "Foster", team="Enterprise Sales", email=MEMBER_EMAIL, external_id="crm-1001"),
    DemoPerson("Benjamin", "Hayes", team="Enterprise Sales", external_id="crm-1002"),
    DemoPerson("Amelia", "Ward", team="Enterprise Sales", external_id="crm-1003"),
    DemoPerson("Lucas", "Griffin", team="Enterprise Sales", external_id="crm-1004"),
    DemoPerson("Mia", "Sullivan", team="Enterprise Sales"),
    DemoPerson("Alexei", "Volkov", team="Enterprise Sales", language="ru"),
    DemoPerson("Grace", "Porter", team="Enterprise Sales"),
    DemoPerson("Noah", "Parker", Role.LEAD, team="Mid-Market Sales"),
    DemoPerson("Ethan", "Brooks", team="Mid-Market Sales", external_id="crm-1005"),
    DemoPerson("Chloe", "Russell", team="Mid-Market Sales", external_id="crm-1006"),
    DemoPerson("Henry", "Morgan", team="Mid-Market Sales"),
    DemoPerson("Isabella", "Price", team="Mid-Market Sales"),
    DemoPerson("Daniel", "Ross", team="Mid-Market Sales"),
    DemoPerson("Natalia", "Orlova", team="Mid-Market Sales", language="ru"),
    DemoPerson("Samuel", "Jenkins", team="Mid-Market Sales"),
    # Customer Success
    DemoPerson("Sophia", "Turner", Role.MANAGER, department="Customer Success"),
    DemoPerson("Evelyn", "Barnes", department="Customer Success"),
    DemoPerson("Ava", "Mitchell", Role.LEAD, team="Onboarding"),
    DemoPerson("Jack", "Coleman", team="Onboarding"),
    DemoPerson("Lily", "Patterson", team="Onboarding"),
    DemoPerson("Owen", "Fisher", team="Onboarding"),
    DemoPerson("Zoe", "Henderson", team="Onboarding"),
    DemoPerson("Ivan", "Petrov", team="Onboarding", language="ru"),
    DemoPerson("Ella", "Simmons", team="Onboarding"),
    DemoPerson("Mason", "Reed", Role.LEAD, team="Support", external_id="hd-201"),
    DemoPerson("Dmitry", "Sokolov", Role.LEAD, team="Support", language="ru", external_id="hd-202"),
    DemoPerson("Aria", "Butler", team="Support", external_id="hd-203"),
    DemoPerson("Logan", "Perry", team="Support"),
    DemoPerson("Scarlett", "Powell", team="Support"),
    DemoPerson("Caleb", "Long", team="Support"),
    DemoPerson("Hannah", "Flores", team="Support"),
    DemoPerson("Wyatt", "Bryant", team="Support"),
    DemoPerson("Nora", "Gray", team="Support"),
    DemoPerson("Leo", "Watson", team="Support"),
    # A new hire not placed yet (O3: in no unit).
    DemoPerson("Victoria", "Ramos"),
)
_SIGN_IN_EMAILS = {email for email, _who in SIGN_INS}


# --- The builder -------------------------------------------------------------------------------------


@dataclass
class Demo:
    """What the steps share. Rows are keyed by name (units) and e-mail (people)."""

    company: Company
    company_created: bool = False
    departments: dict[str, Department] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    created: Counter = field(default_factory=Counter)  # what this run added, by kind
    rng: random.Random = field(default_factory=lambda: random.Random(2026))


def demo_departments_and_teams(demo: Demo) -> None:
    for spec in DEPARTMENTS:
        department = Department.objects.filter(name__iexact=spec.name).first()
        if department is None:
            department = services.department_create(name=spec.name)
            demo.created["departments"] += 1
        demo.departments[spec.name] = department
        for team_spec in spec.teams:
            team = Team.objects.filter(department=department, name__iexact=team_spec.name).first()
            if team is None:
                team = services.team_create(name=team_spec.name, department=department)
                demo.created["teams"] += 1
            demo.teams[team_spec.name] = team


def demo_people(demo: Demo) -> None:
    existing = {member.user.email: member for member in Member.objects.select_related("user")}
    for person in PEOPLE:
        member = existing.get(person.address)
        if member is None:
            member = services.member_create(
                email=person.address,
                first_name=person.first_name,
                last_name=person.last_name,
                role=person.role,
                department=demo.departments[person.department] if person.department else None,
                team=demo.teams[person.team] if person.team else None,
                external_id=person.external_id,
                language=person.language,
                password=DEMO_PASSWORD if person.address in _SIGN_IN_EMAILS else None,
            )
            demo.created["people"] += 1
        demo.members[person.address] = member


def demo_heads(demo: Demo) -> None:
    """Managers and leads, given to the units that have none (a fresh unit, or a fresh demo).

    Set after the people exist, since the heads sit in the units they head. A unit whose heads
    someone has changed since keeps them.
    """
    for spec in DEPARTMENTS:
        department = demo.departments[spec.name]
        if not department.managers.exists():
            managers = [demo.members[email] for email in spec.managers]
            services.department_update(department=department, managers=managers)
            demo.created["department managers"] += len(managers)
        for team_spec in spec.teams:
            team = demo.teams[team_spec.name]
            if not team.leads.exists():
                leads = [demo.members[email] for email in team_spec.leads]
                services.team_update(team=team, leads=leads)
                demo.created["team leads"] += len(leads)


def demo_platform_operator() -> bool:
    """The platform superuser: global, in no company."""
    if User.objects.filter(company__isnull=True, email__iexact=ROOT_EMAIL).exists():
        return False
    User.objects.create_superuser(ROOT_EMAIL, DEMO_PASSWORD, first_name="Platform", last_name="Operator")
    return True


@transaction.atomic
def demo_seed() -> Demo:
    """Create whatever part of the demo company is missing; all of it or nothing."""
    company, company_created = services.company_create(
        slug=DEMO_SLUG, name=DEMO_NAME, languages=DEMO_LANGUAGES, time_zone=DEMO_TIME_ZONE
    )
    demo = Demo(company=company, company_created=company_created)
    with company_context(company.id):
        hooks.demo_steps.send(demo)
    if demo_platform_operator():
        demo.created["platform operators"] += 1
    return demo


def sign_in_text(url: str = DEMO_URL) -> str:
    width = max(len(email) for email, _who in SIGN_INS)
    lines = [f"Open {url} and sign in with one of these (password {DEMO_PASSWORD}):"]
    lines += [f"  {email:<{width}}  {who}" for email, who in SIGN_INS]
    return "\n".join(lines)
