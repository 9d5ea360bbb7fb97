from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from integrations import admin
        from kpi_platform import hooks
        from ratings.models import KpiAction

        # The exports of actions (I4) on the action list ("select all" exports every filtered one).
        hooks.admin_actions.connect(KpiAction, admin.export_actions_xlsx, admin.export_actions_csv)
