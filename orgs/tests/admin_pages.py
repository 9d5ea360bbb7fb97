"""Helpers the admin tests share: a page's text, the admin's answer to an unknown id, and one
company's rows read back inside its context."""

from django.db.models import QuerySet

from orgs.tenancy import company_context

ADMIN = "/admin/"


def text(response) -> str:
    return response.content.decode()


def assert_no_names(response, names: list[str]) -> None:
    page = text(response)
    leaked = [name for name in names if name in page]
    assert leaked == [], f"another company's names on the page: {leaked}"


def assert_not_found_redirect(response) -> None:
    """Django's admin answers an unknown id by going to the index with a message."""
    assert response.status_code == 302, response.status_code
    assert response.url == ADMIN


class Rows:
    """A queryset of one company whose every evaluation runs inside that company's context.

    On PostgreSQL a queryset built in a context but evaluated after it sees nothing: the row-level
    security setting is gone by then (that is the second wall working).
    """

    def __init__(self, queryset, company):
        self._queryset, self._company = queryset, company

    def __getattr__(self, name):
        attribute = getattr(self._queryset, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with company_context(self._company.id):
                result = attribute(*args, **kwargs)
            return Rows(result, self._company) if isinstance(result, QuerySet) else result

        return call

    def __iter__(self):
        with company_context(self._company.id):
            return iter(list(self._queryset))


def rows(model, company) -> Rows:
    """``rows(Kpi, acme.company).filter(...).count()``, each step in Acme's context."""
    with company_context(company.id):
        return Rows(model.objects.all(), company)


def reload(obj, company):
    """``obj`` read again from the database, in its company's context."""
    with company_context(company.id):
        return type(obj).objects.get(pk=obj.pk)


def sign_in_to_the_admin(page, live_server, email: str, password: str) -> None:
    """In a browser (``browser_page``): the admin's sign-in form, until the admin's index is open."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{ADMIN}")
