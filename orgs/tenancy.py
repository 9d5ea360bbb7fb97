"""Company scoping: the only module that knows how it works (PRODUCT O2).

The company of the moment lives in a context-local variable, set in exactly these places:
the request middleware (session user), token authentication, the Celery task base, and commands
that say so explicitly. Company-owned models read it through ``CompanyScopedManager``, which
raises when no company is set instead of returning everything (fail closed).

On PostgreSQL the same context is the second wall: every transaction gets
``set_config('app.company_id', …, is_local => true)`` (``SET LOCAL``) before its first statement,
and row-level security policies compare each row's ``company_id`` with it. See
``orgs/database.py`` for the role and the policies.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.local import Local
from django.db import models

from kpi_platform.models import BaseModel

_state = Local()  # safe for threads and async tasks alike


class NoCompanyInContext(RuntimeError):
    """Company-owned data was touched with no company set. A bug, never a user error: a 500."""

    def __init__(self) -> None:
        super().__init__("No company is set: wrap this code in company_context(company_id).")


class CrossCompanyWrite(RuntimeError):
    def __init__(self, obj: models.Model) -> None:
        super().__init__(
            f"{type(obj).__name__} of company {obj.company_id} written in another company's context."
        )


class CompanyAlreadySet(RuntimeError):
    """A request tried to act for a second company (a session of A with a token of B)."""


def current_company_id() -> int:
    company_id = getattr(_state, "company_id", None)
    if company_id is None:
        raise NoCompanyInContext()
    return company_id


def current_company_id_or_none() -> int | None:
    """For code that must behave differently outside a company (the admin site, logging)."""
    return getattr(_state, "company_id", None)


@contextmanager
def company_context(company_id: int | None) -> Iterator[None]:
    """Run the block as ``company_id`` (``None``: as no company). Contexts nest and restore."""
    previous = getattr(_state, "company_id", None)
    _state.company_id = company_id
    _database_setting_changed()
    try:
        yield
    finally:
        _state.company_id = previous
        _database_setting_changed()


def bind_company(company_id: int) -> None:
    """Set the company of the current request once it is known (token authentication).

    Only inside a ``company_context`` that has none yet, so the middleware's context still resets
    it at the end of the request. A request can never switch from one company to another.
    """
    current = getattr(_state, "company_id", None)
    if current is not None and current != company_id:
        raise CompanyAlreadySet(f"company {current} is set; refusing to switch to {company_id}")
    _state.company_id = company_id
    _database_setting_changed()


def _database_setting_changed() -> None:
    from orgs import database  # the database wall is optional (PostgreSQL only)

    database.sync_company_setting(getattr(_state, "company_id", None))


class CompanyScopedQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        company_id = current_company_id()
        objs = list(objs)  # may be a generator: it is read here and again by Django
        for obj in objs:
            if obj.company_id is None:
                obj.company_id = company_id
            elif obj.company_id != company_id:
                raise CrossCompanyWrite(obj)
        return super().bulk_create(objs, *args, **kwargs)


class CompanyScopedManager(models.Manager.from_queryset(CompanyScopedQuerySet)):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(company_id=current_company_id())


class CompanyScopedModel(BaseModel):
    """A row that belongs to one company. Every company-owned model inherits this."""

    company = models.ForeignKey(
        "orgs.Company", models.PROTECT, default=current_company_id, editable=False, related_name="+"
    )

    objects = CompanyScopedManager()
    # Admin reads of the platform operator, data migrations, ops scripts. Grep for it in review.
    dangerously_unscoped = models.Manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.company_id != current_company_id():  # a row never changes company
            raise CrossCompanyWrite(self)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.company_id != current_company_id():
            raise CrossCompanyWrite(self)
        return super().delete(*args, **kwargs)
