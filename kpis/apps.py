from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpisConfig(AppConfig):
    name = "kpis"
    verbose_name = _("KPI definitions")

    def ready(self) -> None:
        from kpis import selectors, services
        from kpis.demo import demo_kpis
        from orgs import demo
        from orgs import services as org_services

        # Every company gets its "points" unit (K3); a deleted unit's own KPIs are archived (O6),
        # and the deletion summary says how many.
        if services.unit_create_default not in org_services.COMPANY_CREATED_HOOKS:
            org_services.COMPANY_CREATED_HOOKS.append(services.unit_create_default)
        if services.archive_unit_kpis not in org_services.UNIT_DELETED_HOOKS:
            org_services.UNIT_DELETED_HOOKS.append(services.archive_unit_kpis)
        org_services.UNIT_DELETION_COUNTERS["kpis"] = selectors.unit_own_kpi_count
        # A team's own KPIs follow it to another department.
        if services.kpis_follow_team not in org_services.TEAM_MOVED_HOOKS:
            org_services.TEAM_MOVED_HOOKS.append(services.kpis_follow_team)
        # The demo company's units, KPIs, hides and targets, after its organization.
        if demo_kpis not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(demo_kpis)
