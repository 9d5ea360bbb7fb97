"""The organization the page and report tests share: Acme with Sales (teams Alpha and Beta, a
manager, Alpha's lead) and Support (team Helpdesk), two KPIs, and a helper to record actions."""

import datetime
from types import SimpleNamespace

from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.services import department_create, department_set_managers, team_create, team_set_leads
from orgs.tenancy import company_context
from ratings.services import actions_record

NOVEMBER = datetime.date(2026, 11, 1)


def build_org(company, make_member) -> SimpleNamespace:
    with company_context(company.id):
        sales = department_create(name="Sales")
        support = department_create(name="Support")
        alpha = team_create(name="Alpha", department=sales)
        beta = team_create(name="Beta", department=sales)
        helpdesk = team_create(name="Helpdesk", department=support)
    people = {
        "admin": make_member(
            company, Role.ADMIN, email="admin@acme.example", first_name="Ada", last_name="Adler"
        ),
        "manager": make_member(
            company,
            Role.MANAGER,
            email="manager@acme.example",
            first_name="Max",
            last_name="Manager",
            department=sales,
        ),
        "lead": make_member(
            company, Role.LEAD, email="lead@acme.example", first_name="Lea", last_name="Lead", team=alpha
        ),
        "ann": make_member(
            company, email="ann@acme.example", first_name="Ann", last_name="Alpha", team=alpha
        ),
        "bob": make_member(
            company, email="bob@acme.example", first_name="Bob", last_name="Alpha", team=alpha
        ),
        "cid": make_member(company, email="cid@acme.example", first_name="Cid", last_name="Beta", team=beta),
        "eve": make_member(
            company, email="eve@acme.example", first_name="Eve", last_name="Help", team=helpdesk
        ),
    }
    with company_context(company.id):
        department_set_managers(department=sales, managers=[people["manager"]])
        team_set_leads(team=alpha, leads=[people["lead"]])
        calls = make_active_kpi(
            company,
            name={"en": "Calls made", "ru": "Звонки"},
            integration_name="calls",
            in_rating=True,
            rating_units="1",
            rating_points=1,
        )
        deals = make_active_kpi(
            company,
            name={"en": "Deals won", "ru": "Сделки"},
            integration_name="deals",
            kind="primary",
            in_rating=True,
            rating_units="1",
            rating_points=10,
        )
        response_time = make_active_kpi(
            company,
            name={"en": "Response time", "ru": "Время ответа"},
            integration_name="response_time",
            kind="secondary",
            direction="lower_is_better",
        )
    return SimpleNamespace(
        company=company,
        sales=sales,
        support=support,
        alpha=alpha,
        beta=beta,
        helpdesk=helpdesk,
        calls=calls,
        deals=deals,
        response_time=response_time,
        **people,
    )


def record(company, *rows) -> None:
    """``record(company, (member, kpi, value, "2026-11-02"), ...)``: actions at 10:00 local time."""
    with company_context(company.id):
        actions_record(
            items=[
                {"user": member, "kpi": kpi, "value": str(value), "occurred_at": f"{day}T10:00:00"}
                for member, kpi, value, day in rows
            ]
        )
