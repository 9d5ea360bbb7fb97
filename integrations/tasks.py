"""Background work of imports: thin wrappers over ``integrations.services`` (STYLE 8)."""

from integrations.selectors import company_ids
from kpi_platform.celery import GlobalTask, app
from orgs.tenancy import company_context


# Exactly once (I3): acknowledged only when done, and delivered again if the worker process dies
# mid-file (its transaction is lost with it); the service makes a second run safe.
@app.task(acks_late=True, reject_on_worker_lost=True)
def import_job_run(job_id: int) -> None:
    from integrations.services import import_job_run

    import_job_run(job_id=job_id)


@app.task
def imports_resume_stale() -> None:
    from integrations.services import imports_resume_stale

    imports_resume_stale()


@app.task(base=GlobalTask)
def imports_sweep() -> None:
    """Periodic dispatcher: each company looks for imports a worker dropped."""
    for company_id in company_ids():
        with company_context(company_id):
            imports_resume_stale.delay()


# Like ``import_job_run``: a run a dying worker left is delivered again and redone from the start.
@app.task(acks_late=True, reject_on_worker_lost=True)
def integration_source_run(source_id: int) -> None:
    from integrations.services import integration_source_run

    integration_source_run(source_id=source_id)


@app.task
def integration_sources_queue_due() -> None:
    from integrations.services import integration_sources_queue_due

    integration_sources_queue_due()


@app.task(base=GlobalTask)
def integration_sources_dispatch() -> None:
    """Periodic dispatcher (every minute): each company queues its sources that are due."""
    for company_id in company_ids():
        with company_context(company_id):
            integration_sources_queue_due.delay()
