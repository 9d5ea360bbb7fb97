from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = _("Actions and ratings")

    def ready(self) -> None:
        from kpis import services as kpi_services
        from orgs import demo
        from orgs import services as org_services
        from ratings import services
        from ratings.demo import demo_actions

        # A KPI that starts or stops counting moves its points into or out of the ratings (R6).
        if services.kpi_rating_state_changed not in kpi_services.KPI_RATING_STATE_HOOKS:
            kpi_services.KPI_RATING_STATE_HOOKS.append(services.kpi_rating_state_changed)
        # People who change department take their totals along; a deleted department's go with it.
        if services.department_totals_follow not in org_services.MEMBERS_MOVING_HOOKS:
            org_services.MEMBERS_MOVING_HOOKS.append(services.department_totals_follow)
        if services.department_totals_delete not in org_services.UNIT_DELETED_HOOKS:
            org_services.UNIT_DELETED_HOOKS.append(services.department_totals_delete)
        # The demo company's months of actions, after its KPIs (kpis comes first in INSTALLED_APPS).
        if demo_actions not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(demo_actions)
