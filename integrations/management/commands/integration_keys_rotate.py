"""Re-encrypt every integration source's credentials under the first of ``INTEGRATION_KEYS``
(README, "Integration sources": put the new key first, run this, then drop the old key)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from integrations import crypto
from integrations.models import IntegrationSource
from integrations.selectors import company_ids
from orgs.tenancy import company_context


class Command(BaseCommand):
    help = "Re-encrypt integration sources' credentials under the first INTEGRATION_KEYS key."

    def handle(self, *args, **options) -> None:
        rotated = 0
        for company_id in company_ids():
            with company_context(company_id), transaction.atomic():
                for source in IntegrationSource.objects.select_for_update().exclude(credentials=""):
                    source.credentials = crypto.rotate(source.credentials)
                    source.save(update_fields=["credentials", "updated_at"])
                    rotated += 1
        self.stdout.write(f"{rotated} sources re-encrypted.")
