"""What the kpis app hooks into orgs (``KpisConfig.ready``): a deleted department's or team's own
KPIs are archived, never deleted, and the deletion summary counts them first (O6)."""

from kpis.models import Change, ChangeAction, Kpi, KpiStatus
from kpis.services import kpi_archive
from kpis.tests.factories import make_active_kpi, make_target
from orgs.services import (
    department_create,
    department_delete,
    department_deletion_summary,
    team_create,
    team_delete,
    team_deletion_summary,
    team_update,
)
from orgs.tenancy import company_context


def test_deleting_a_department_archives_its_own_and_its_teams_kpis_and_keeps_them(in_company):
    # given Sales with a department KPI and a team KPI (with a target), a company KPI, and a KPI
    # already archived
    sales = department_create(name="Sales")
    alpha = team_create(name="Alpha", department=sales)
    own = make_active_kpi(in_company, level="department", department=sales)
    teams = make_active_kpi(in_company, level="team", team=alpha)
    make_target(kpi=teams, scope="team", team=alpha)
    company_wide = make_active_kpi(in_company)
    # when the summary is asked for, then it counts the two
    summary = department_deletion_summary(department=sales)
    assert summary.kpis == 2
    # when the department is deleted
    assert department_delete(department=sales).kpis == 2
    # then both are archived: hidden, with the time, and still there with their history
    archived = Kpi.objects.filter(id__in=[own.id, teams.id])
    assert archived.count() == 2
    for kpi in archived:
        assert kpi.status == KpiStatus.HIDDEN
        assert kpi.archived_at is not None
        history = Change.objects.filter(kpi=kpi, object_type="kpi").order_by("id")
        assert list(history.values_list("action", flat=True)) == [ChangeAction.CREATED, ChangeAction.ARCHIVED]
    # and the history of the team KPI's target stays too (the target went with its team)
    assert Change.objects.filter(kpi=teams, object_type="target", action=ChangeAction.CREATED).exists()
    # and the company's KPI is untouched
    company_wide.refresh_from_db()
    assert (company_wide.status, company_wide.archived_at) == (KpiStatus.ACTIVE, None)


def test_deleting_a_team_archives_only_its_own_kpis(in_company):
    sales = department_create(name="Sales")
    alpha, beta = team_create(name="Alpha", department=sales), team_create(name="Beta", department=sales)
    alphas = make_active_kpi(in_company, level="team", team=alpha)
    betas = make_active_kpi(in_company, level="team", team=beta)
    departments = make_active_kpi(in_company, level="department", department=sales)
    assert team_deletion_summary(team=alpha).kpis == 1
    team_delete(team=alpha)
    assert list(Kpi.objects.filter(archived_at__isnull=False).values_list("id", flat=True)) == [alphas.id]
    assert {betas.id, departments.id} <= set(
        Kpi.objects.filter(archived_at=None).values_list("id", flat=True)
    )


def test_a_team_that_moved_away_keeps_its_kpis_when_its_old_department_goes(in_company):
    # given Alpha's KPI, saved while Alpha was in Sales, and Alpha moved to Support since
    sales, support = department_create(name="Sales"), department_create(name="Support")
    alpha = team_create(name="Alpha", department=sales)
    kpi = make_active_kpi(in_company, level="team", team=alpha)
    team_update(team=alpha, department=support)
    # when Sales is deleted
    assert department_deletion_summary(department=sales).kpis == 0
    department_delete(department=sales)
    # then Alpha's KPI stays active
    kpi.refresh_from_db()
    assert (kpi.status, kpi.archived_at) == (KpiStatus.ACTIVE, None)


def test_a_summary_counts_neither_archived_kpis_nor_another_companys(in_company, other_company):
    sales = department_create(name="Sales")
    kpi_archive(kpi=make_active_kpi(in_company, level="department", department=sales))
    with company_context(other_company.id):
        theirs = department_create(name="Sales")
        make_active_kpi(other_company, level="department", department=theirs)
    assert department_deletion_summary(department=sales).kpis == 0


def test_the_admins_deletion_page_says_how_many_kpis_are_archived(client, in_company, admin_member):
    # given Sales with a department KPI and a team KPI
    sales = department_create(name="Sales")
    make_active_kpi(in_company, level="department", department=sales)
    make_active_kpi(in_company, level="team", team=team_create(name="Alpha", department=sales))
    client.force_login(admin_member.user)
    # when the admin asks to delete it
    with company_context(None):
        response = client.get(f"/admin/orgs/department/{sales.id}/delete/")
    # then the summary says the two KPIs are archived
    assert response.status_code == 200
    html = response.content.decode()
    assert "2 KPIs of its own are archived, with their history and actions kept." in html
    assert "Own KPIs (archived, kept)" in html


def test_a_teams_own_kpis_follow_it_to_another_department(in_company, make_member):
    """K6/O4: a team-level KPI is under its team's department, also after the team moves."""
    from kpis.access import may_change_kpi
    from kpis.tests.factories import make_kpi
    from orgs.services import company_update, department_create, team_create, team_update

    # given a team in Sales with a KPI of its own, and a manager of Support
    company_update(company=in_company, units_define_kpis=True)
    sales, support = department_create(name="Sales"), department_create(name="Support")
    team = team_create(name="Alpha", department=sales)
    kpi = make_kpi(level="team", team=team)
    manager = make_member(in_company, "manager")
    from orgs.services import department_set_managers

    department_set_managers(department=support, managers=[manager])

    # when the team moves to Support
    team_update(team=team, department=support)

    # then its KPI is under Support, and Support's manager may change it
    kpi.refresh_from_db()
    assert kpi.department_id == support.id
    kpi.team = team
    assert may_change_kpi(manager, kpi)
