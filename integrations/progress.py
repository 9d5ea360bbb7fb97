"""Where a running import publishes its progress (PRODUCT I3). The job's own row cannot show it
while the worker's transaction is open, so the worker (``integrations.services``) writes
``(processed_rows, total_rows)`` to the cache (Redis in production) under this key, and
``integrations.selectors.import_job_progress`` reads it from there."""


def progress_key(job_id: int) -> str:
    return f"integrations:import-progress:{job_id}"
