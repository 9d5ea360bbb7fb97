import datetime
from types import SimpleNamespace

import pytest

from integrations.tests.fake_connector import fake  # noqa: F401 - a fixture: the in-memory connector
from kpi_platform.celery import app
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.tenancy import company_context


@pytest.fixture
def eager():
    """Tasks run in the process when sent (the worker's code, without a broker)."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def acme(company, make_member):
    """Acme (Europe/Moscow): an admin, Ann (external id e-ann) and Bob, and the KPI ``calls``
    (1 point per call)."""
    with company_context(company.id):
        calls = make_active_kpi(
            company, integration_name="calls", in_rating=True, rating_units="1", rating_points=1
        )
    return SimpleNamespace(
        company=company,
        admin=make_member(company, Role.ADMIN, email="admin@acme.example"),
        ann=make_member(company, email="ann@acme.example", external_id="e-ann"),
        bob=make_member(company, email="bob@acme.example"),
        calls=calls,
    )


@pytest.fixture
def globex(other_company, make_member):
    """Globex, with its own person and KPI (``sales``), and an admin."""
    with company_context(other_company.id):
        sales = make_active_kpi(other_company, integration_name="sales", in_rating=True)
    return SimpleNamespace(
        company=other_company,
        admin=make_member(other_company, Role.ADMIN, email="admin@globex.example"),
        zed=make_member(other_company, email="zed@globex.example"),
        sales=sales,
    )


YESTERDAY = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
