"""A company with a little of everything, for tests that must reach every kind of row."""

from kpis.tests.factories import make_active_kpi, make_target, make_unit
from orgs.models import Company, Member, Role
from orgs.services import api_token_create, department_create, department_update, team_create, team_update
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory
from ratings.services import actions_record


def populate(company: Company, tag: str, *, recorded_by: Member | None = None) -> None:
    """Through the services: org, managers and leads, a unit, a KPI, a target, an action (and so
    its totals; recorded by ``recorded_by``, else the system), a token. ``tag`` keeps names and
    e-mails apart between companies."""
    with company_context(company.id):
        department = department_create(name=f"{tag} sales")
        team = team_create(name=f"{tag} north", department=department)
        manager = MemberFactory(email=f"manager@{tag}.example", department=department)
        seller = MemberFactory(email=f"seller@{tag}.example", team=team, role=Role.MEMBER)
        department_update(department=department, managers=[manager])
        team_update(team=team, leads=[seller])
        unit = make_unit(name=dict.fromkeys(company.languages, f"{tag} calls"))
        kpi = make_active_kpi(company, unit=unit, in_rating=True)
        make_target(kpi=kpi)
        actions_record(items=[{"kpi": kpi, "user": seller, "value": "3"}], recorded_by=recorded_by)
        api_token_create(name=f"{tag} CRM", scopes=["read"])
