from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from orgs.models import Company
from orgs.selectors import member_of
from orgs.tenancy import company_context


class CompanyMiddleware:
    """Wraps every request in its company's context (O2), and gives it ``request.viewer``.

    The company comes from the signed-in user's account; an API token binds its own company
    later, in authentication (``orgs.auth``). The ``with`` resets the context when the request
    ends, whatever happens.

    ``request.viewer`` is the signed-in person's ``Member`` in that company, for the pages and the
    navigation: ``None`` for an anonymous visitor or a platform operator, who has no company. It
    is read from the database the first time something reads it, so a request that never does
    (the API, the admin, a health check) pays no query for it. Test it as a truth value
    (``if request.viewer``), not with ``is None``: until it is read it is a lazy proxy, which is
    never ``None`` even when the person has no ``Member``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        company_id = user.company_id if user is not None and user.is_authenticated else None
        request.viewer = None if company_id is None else SimpleLazyObject(lambda: member_of(user))
        with company_context(company_id), timezone.override(_shown_zone(request, company_id)):
            return self.get_response(request)


def _shown_zone(request: HttpRequest, company_id: int | None):
    """The time zone a person reads times in: their company's, on every page, export and admin
    list (issue 18); UTC for a platform operator. The API keeps writing times with their offset
    as they are stored (API.md), whatever the zone."""
    if company_id is None or request.path.startswith("/api/"):
        return None
    viewer = request.viewer
    company = viewer.company if viewer else Company.objects.get(id=company_id)
    return company.zone
