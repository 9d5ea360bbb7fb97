from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = _("Actions and ratings")

    def ready(self) -> None:
        from kpi_platform import hooks
        from kpis.models import Kpi
        from ratings import admin, services
        from ratings.demo import demo_actions

        # A KPI that starts or stops counting moves its points into or out of the ratings (R6).
        hooks.kpi_rating_state_changed.connect(services.kpi_rating_state_changed)
        # A KPI that becomes a level (K11 ``last``) gets its people's latest values per period.
        hooks.kpi_aggregation_changed.connect(services.latest_values_follow)
        # People who change department or team take their totals along; a deleted department's go with it
        # (after the kpis app's reaction: kpis comes first in INSTALLED_APPS).
        hooks.members_moving.connect(services.department_totals_follow)
        hooks.team_members_moving.connect(services.team_totals_follow)
        hooks.org_unit_deleted.connect(services.department_totals_delete)
        # The demo company's months of actions, after its KPIs.
        hooks.demo_steps.connect(demo_actions)
        # "Recalculate points" on the KPI list (R2): the KPI admin knows nothing of ratings.
        hooks.admin_actions.connect(Kpi, admin.recalculate_points)
