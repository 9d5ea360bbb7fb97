"""Background work of the ratings app: thin wrappers over ``ratings.services`` (STYLE 8)."""

from kpi_platform.celery import app


@app.task
def kpi_points_recalculate(recalculation_id: int) -> None:
    """R2: recalculate a KPI's past points, reporting progress on the ``Recalculation``."""
    from ratings.models import Recalculation
    from ratings.services import recalculation_run

    recalculation_run(
        recalculation=Recalculation.objects.select_related("kpi", "requested_by").get(id=recalculation_id)
    )
