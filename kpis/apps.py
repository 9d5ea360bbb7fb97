from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KpisConfig(AppConfig):
    name = "kpis"
    verbose_name = _("KPI definitions")

    def ready(self) -> None:
        from kpi_platform import hooks
        from kpis import history, selectors, services
        from kpis.demo import demo_kpis

        # Every company gets its "points" unit (K3); a deleted unit's own KPIs are archived (O6),
        # and the deletion summary says how many.
        hooks.company_created.connect(services.unit_create_default)
        # A company's settings keep their history with the KPIs' (K10, O7).
        hooks.company_settings_changed.connect(history.company_change_record)
        hooks.org_unit_deleted.connect(services.archive_org_unit_kpis)
        hooks.org_unit_deletion_counts.connect(selectors.org_unit_deletion_counts)
        # A team's own KPIs follow it to another department.
        hooks.team_moved.connect(services.kpis_follow_team)
        # The demo company's units, KPIs, hides and targets, after its organization.
        hooks.demo_steps.connect(demo_kpis)
