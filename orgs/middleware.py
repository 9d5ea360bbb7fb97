from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from orgs.tenancy import company_context


class CompanyMiddleware:
    """Wraps every request in its company's context (O2).

    The company comes from the signed-in user's account; an API token binds its own company
    later, in authentication (``orgs.auth``). The ``with`` resets the context when the request
    ends, whatever happens.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        company_id = user.company_id if user is not None and user.is_authenticated else None
        with company_context(company_id):
            return self.get_response(request)
