from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RatingsConfig(AppConfig):
    name = "ratings"
    verbose_name = _("Actions and ratings")

    def ready(self) -> None:
        from kpis import services as kpi_services
        from orgs import demo
        from ratings import services
        from ratings.demo import demo_actions

        # A KPI that starts or stops counting moves its points into or out of the ratings (R6).
        if services.kpi_rating_state_changed not in kpi_services.KPI_RATING_STATE_HOOKS:
            kpi_services.KPI_RATING_STATE_HOOKS.append(services.kpi_rating_state_changed)
        # The demo company's months of actions, after its KPIs (kpis comes first in INSTALLED_APPS).
        if demo_actions not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(demo_actions)
