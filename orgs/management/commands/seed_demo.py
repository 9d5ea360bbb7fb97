"""``manage.py seed_demo``: the demo company of ``make run``, created idempotently (API.md)."""

from django.core.management.base import BaseCommand, CommandError

from kpi_platform.errors import DomainError
from orgs.demo import DEMO_SLUG, demo_seed, sign_in_text


class Command(BaseCommand):
    help = "Create the demo company (slug 'demo') and its people; a second run changes nothing."

    def handle(self, *args, **options) -> None:
        try:
            demo = demo_seed()
        except DomainError as error:  # e.g. a demo e-mail already used in another company
            raise CommandError(f"The demo could not be created: {error.message}") from error
        if demo.company_created:
            created = f"Created the demo company {demo.company.name!r} ({DEMO_SLUG})."
            self.stdout.write(self.style.SUCCESS(created))
        else:
            self.stdout.write(f"The demo company {demo.company.name!r} ({DEMO_SLUG}) exists.")
        if demo.created:
            added = ", ".join(f"{kind} {count}" for kind, count in demo.created.items())
            self.stdout.write(f"Added: {added}.")
        else:
            self.stdout.write("Nothing was missing; nothing changed.")
        self.stdout.write(sign_in_text())
