from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = _("Organization")

    def ready(self) -> None:
        from orgs import database

        connection_created.connect(database.on_connection_created, dispatch_uid="orgs.app_role")
        post_migrate.connect(database.on_post_migrate, sender=self, dispatch_uid="orgs.rls")
