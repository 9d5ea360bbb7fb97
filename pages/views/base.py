"""What every page view shares: the signed-in person and the 400 page of a bad query."""

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from kpi_platform.errors import DomainError
from orgs.models import Member


def viewer_of(request: HttpRequest) -> Member:
    """The signed-in person (``request.viewer``, set by ``orgs.middleware``); a platform operator,
    who has no company, finds no page here (404)."""
    if not request.viewer:
        raise Http404
    return request.viewer


def page(view):
    """A page for signed-in people whose bad query (a period, a scope) is a 400 page saying why."""

    @login_required
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return render(request, "pages/bad_request.html", {"message": error.message}, status=400)

    return wrapped
