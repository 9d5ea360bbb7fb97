"""``manage.py rebuild_ratings [--company SLUG]``: recompute the rating aggregates from the actions.

Each company is rebuilt inside its own ``company_context`` and transaction (STYLE 2); the
result equals the aggregates the recording service keeps, so running it changes nothing unless
they drifted.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from orgs.models import Company
from orgs.tenancy import company_context
from ratings.services import aggregates_rebuild


class Command(BaseCommand):
    help = "Recompute the daily and rating totals of one company (--company) or of every company."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--company", help="the company's slug (default: every company)")

    def handle(self, *args, company: str | None = None, **options) -> None:
        companies = Company.objects.order_by("id")
        if company is not None:
            companies = companies.filter(slug=company)
            if not companies.exists():
                raise CommandError(f"No company with the slug {company!r}.")
        for each in companies:
            started = time.monotonic()
            with company_context(each.id):
                result = aggregates_rebuild()
            self.stdout.write(
                f"{each.slug}: {result.daily} daily totals, {result.rating} rating totals, "
                f"{result.corrected} corrected, in {time.monotonic() - started:.2f} s"
            )
