from kpi_platform.celery import GlobalTask, app


@app.task(base=GlobalTask)
def sessions_clear_expired() -> None:
    """Housekeeping of the global session table."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.filter(expire_date__lt=timezone.now()).delete()
