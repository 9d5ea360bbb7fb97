import sys

from django.contrib.auth import views as auth_views
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orgs.auth import login_attempt_ip
from orgs.forms import ThrottledPasswordResetForm


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_ok() -> bool:
    from kpi_platform.celery import broker_reachable

    return broker_reachable()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    parts = {"database": "ok" if _database_ok() else "error", "broker": "ok" if _broker_ok() else "error"}
    healthy = all(value == "ok" for value in parts.values())
    return JsonResponse({"status": "ok" if healthy else "error", **parts}, status=200 if healthy else 503)


def not_found(request: HttpRequest, *args, **kwargs):
    raise Http404()


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500, except when the database cannot be reached (a restart, a failover): then 503
    with ``Retry-After``, in the API's error format under ``/api/``, so clients retry instead of
    reading a crash (a request that changes data is safe to send again: R4)."""
    if not isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return defaults.server_error(request)
    message = _("The service is briefly unavailable: try again in a moment.")
    if request.path.startswith("/api/"):
        error = {"code": "service_unavailable", "field": None, "message": message, "index": None}
        response = JsonResponse({"errors": [error]}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "5"
    return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset (issue 18), throttled per address and per client
    (``orgs.forms.ThrottledPasswordResetForm``), with the mail naming the account's company."""

    form_class = ThrottledPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "client_ip": login_attempt_ip(self.request)}
