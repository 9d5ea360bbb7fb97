from unittest import mock

from django.test import Client


def test_healthz_reports_database_and_broker_ok(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_names_the_failing_part_with_503(db):
    with mock.patch("kpi_platform.views._broker_ok", return_value=False):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "broker": "error"}
