"""Running an integration source in a test as the worker would (issue 20)."""

from unittest import mock

from integrations import services
from integrations.models import ImportJob, IntegrationSource
from orgs.tenancy import company_context


def run(source: IntegrationSource) -> ImportJob:
    """Queue a run and let the worker's code run it, as the task would; ``source`` reloaded
    (its cursor, its pause) and the finished run returned."""
    with company_context(source.company_id):
        with mock.patch("integrations.services.integration_source_run_task"):
            services.integration_source_run_now(source=source)
        job = services.integration_source_run(source_id=source.id)
        job.refresh_from_db()
        source.refresh_from_db()
        return job
