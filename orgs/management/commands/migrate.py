"""Django's ``migrate``, run as the tables' owner rather than the application role.

Every other connection switches to the application role (``orgs/database.py``); schema changes,
grants and row-level security policies need the owner.
"""

from django.core.management.commands import migrate

from orgs.database import running_as_owner


class Command(migrate.Command):
    def handle(self, *args, **options):
        with running_as_owner():
            return super().handle(*args, **options)
