"""Background work of the ratings app: thin wrappers over ``ratings.services`` (STYLE 8)."""

from kpi_platform.celery import GlobalTask, app


@app.task
def kpi_points_recalculate(recalculation_id: int) -> None:
    """R2: recalculate a KPI's past points, reporting progress on the ``Recalculation``."""
    from ratings.models import Recalculation
    from ratings.services import recalculation_run

    recalculation_run(
        recalculation=Recalculation.objects.select_related("kpi", "requested_by").get(id=recalculation_id)
    )


@app.task(base=GlobalTask)
def kpi_reports_dispatch() -> None:
    """Hourly (beat): ask each company that sends KPI reports to send the one that is due (D5)."""
    from orgs.models import Company, ReportFrequency
    from orgs.tenancy import company_context

    for company_id in Company.objects.exclude(report_frequency=ReportFrequency.OFF).values_list(
        "id", flat=True
    ):
        with company_context(company_id):
            kpi_reports_send.delay()


@app.task
def kpi_reports_send() -> None:
    """D5: the current company's KPI report, if it is due; at most once per period."""
    from ratings.reports import reports_send_due

    reports_send_due()
