from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = _("Organization")

    def ready(self) -> None:
        from kpi_platform import hooks
        from orgs import database, demo

        connection_created.connect(database.on_connection_created, dispatch_uid="orgs.app_role")
        post_migrate.connect(database.on_post_migrate, sender=self, dispatch_uid="orgs.rls")
        # The demo company's organization, before the other apps' steps (orgs comes first in
        # INSTALLED_APPS).
        for step in (demo.demo_departments_and_teams, demo.demo_people, demo.demo_heads):
            hooks.demo_steps.connect(step)
