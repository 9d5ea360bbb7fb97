"""The Celery app. Every task runs inside the company it was sent from (O2).

``CompanyTask`` (the app's default task base) copies the current company into the message
headers when a task is sent, and runs the task inside that ``company_context``, in one
transaction, so the PostgreSQL setting of row-level security applies. Sending a company task
with no company set raises. Tasks that serve no single company use ``base=GlobalTask``; a
periodic job that concerns every company is a global dispatcher that sends one company task per
company inside ``company_context`` (tenant-schemas-celery's dispatcher pattern).
"""

import os
from pathlib import Path

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpi_platform.settings.base")

COMPANY_HEADER = "kpi_company_id"


class CompanyTask(Task):
    def apply_async(
        self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options
    ):
        from orgs.tenancy import current_company_id

        headers = dict(options.pop("headers", None) or {})
        headers[COMPANY_HEADER] = current_company_id()  # raises outside a company: a bug
        return super().apply_async(
            args, kwargs, task_id, producer, link, link_error, headers=headers, **options
        )

    def _company_id_from_request(self) -> int:
        # Some transports nest custom headers, others merge them into the request.
        headers = self.request.headers or {}
        company_id = headers.get(COMPANY_HEADER, self.request.get(COMPANY_HEADER))
        if company_id is None:
            raise RuntimeError(
                f"Task {self.name} was sent with no company: send it from within company_context."
            )
        return int(company_id)

    def __call__(self, *args, **kwargs):
        from orgs.tenancy import company_context

        with company_context(self._company_id_from_request()):
            return super().__call__(*args, **kwargs)


class GlobalTask(Task):
    """A task that concerns no single company (dispatchers, housekeeping of global tables)."""


app = Celery("kpi_platform", task_cls=CompanyTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def broker_reachable() -> bool:
    """Whether a message can be sent now (``/healthz``, and uploads before they are stored)."""
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, **kwargs) -> None:
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
