"""Requests refused before any view reads them."""

from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults


class NulInQueryStringMiddleware:
    """A NUL character (``%00``) in a query string's names or values is a 400, in the API's error
    format under ``/api/``.

    PostgreSQL's text cannot hold one, so any parameter that reaches a query as text (an admin
    list's filter or search, a page's) failed there with a DataError, a 500 (issue 17). No
    parameter means one: refusing them here, once, covers every view, the admin's included.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return self._refuse(request, name.replace("\x00", "") or None)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, name: str | None) -> HttpResponse:
        message = _("A parameter of the address contains a NUL character (U+0000), which none accepts.")
        if request.path.startswith("/api/"):
            error = {"code": "invalid", "field": name, "message": message, "index": None}
            return JsonResponse({"errors": [error]}, status=400)
        return defaults.bad_request(request, SuspiciousOperation(message))
