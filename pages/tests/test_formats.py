"""One way to write numbers, units and times on the pages (issue 18, item 8): a KPI's decimals
everywhere, numbers in the reader's language in tables and in the charts' data, units next to a
number only where they agree with it, a chart with nothing to draw that says so, and times with
their minutes."""

import csv
import io
import json
import re
from decimal import Decimal

import pytest
from django.conf import settings

from kpis.services import kpi_update, target_create, unit_create
from kpis.tests.factories import make_active_kpi
from orgs.tenancy import company_context
from pages.tests import test_ratings
from pages.tests.test_kpis import fragment, page
from ratings.tests.pages_org import NOVEMBER, record

# The pages' organization and their fixed day (10 November 2026), as in test_ratings.
org, on_the_tenth = test_ratings.org, test_ratings.on_the_tenth


def speaking(client, member, language: str):
    """``member`` signed in, reading the interface in ``language`` (its cookie, D6)."""
    client.force_login(member.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_russian_points_agree_with_the_number_one_two_five(client, company, make_member):
    """Russian has three plural forms: 1 балл, 2 балла, 5 баллов; the unit itself stands apart
    ("звонки: 5 = …"), so it never has to agree with the number."""
    reader = make_member(company, email="ivan@acme.example")
    with company_context(company.id):
        calls = unit_create(name={"en": "calls", "ru": "звонки"}, decimals=0)
        kpis = {
            points: make_active_kpi(
                company, unit=calls, in_rating=True, rating_units="5", rating_points=points
            )
            for points in (1, 2, 5, 21)
        }
    client = speaking(client, reader, "ru")
    shown = {
        points: fragment(page(client, kpi).content.decode(), "kpi-rating").strip()
        for points, kpi in kpis.items()
    }
    assert shown == {
        1: "звонки: 5 = 1 балл",
        2: "звонки: 5 = 2 балла",
        5: "звонки: 5 = 5 баллов",
        21: "звонки: 5 = 21 балл",
    }


@pytest.mark.parametrize(("language", "shown"), [("en", "4,552,511.94"), ("ru", "4\xa0552\xa0511,94")])
def test_a_table_writes_numbers_in_the_readers_language(client, org, on_the_tenth, language, shown):
    # given November's revenue-like target of 4,552,511.94 for the company, read by the admin in
    # the secondary table (a primary KPI is a tile)
    with company_context(org.company.id):
        kpi_update(kpi=org.calls, kind="secondary")
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="4552511.94")
    # when they open the company dashboard for November
    speaking(client, org.admin, language)
    html = client.get("/dashboards/company/", {"period": "month", "date": "2026-11-01"}).content.decode()
    # then the target is grouped and marked as their language does
    row = re.search(rf'<tr data-kpi="{org.calls.id}".*?</tr>', html, re.S).group(0)
    assert f">{shown}<" in row


def test_the_chart_data_carries_the_kpis_decimals_and_the_page_its_language(client, org, on_the_tenth):
    """The script writes ticks and tooltips with ``Intl.NumberFormat`` in the page's language and
    these decimals (static/js/pages.js), as the tables do."""
    with company_context(org.company.id):
        counted = unit_create(name={"en": "deals", "ru": "сделки"}, decimals=0)
        kpi_update(kpi=org.deals, unit=counted)
    record(org.company, (org.ann, org.deals, 2, "2026-11-09"))
    speaking(client, org.admin, "ru")
    html = client.get(
        "/dashboards/company/", {"period": "month", "date": "2026-11-01", "kpi": org.deals.id}
    ).content.decode()
    assert '<html lang="ru">' in html
    data = json.loads(
        re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert data["decimals"] == 0
    assert data["empty"] == {"trend": False, "pacing": False}
    assert data["trend"]["actual"][-1] == 2.0


def test_a_chart_with_nothing_to_draw_says_so(client, org, on_the_tenth):
    # given a KPI with no action and no target in November
    client.force_login(org.admin.user)
    # when the admin charts it
    html = client.get(
        "/dashboards/company/", {"period": "month", "date": "2026-11-01", "kpi": org.deals.id}
    ).content.decode()
    # then both charts say there is no data instead of drawing an empty 0–1 axis
    chart = fragment(html, "kpi-chart") if 'id="kpi-chart"' in html else ""
    assert chart.count("No data for this period") == 2
    assert 'data-chart="trend"' not in chart
    assert 'data-chart="pacing"' not in chart
    # and in Russian too
    speaking(client, org.admin, "ru")
    html = client.get(
        "/dashboards/company/", {"period": "month", "date": "2026-11-01", "kpi": org.deals.id}
    ).content.decode()
    assert html.count("Нет данных за этот период") == 2


@pytest.mark.parametrize(("language", "shown"), [("en", "11/02/2026 10:00 a.m."), ("ru", "02.11.2026 10:00")])
def test_a_time_on_the_hour_keeps_its_minutes(client, org, language, shown):
    """Never "10 a.m." beside "12:10 p.m.": English times always show their minutes, Russian ones
    are 24-hour, both in the company's time zone."""
    record(org.company, (org.ann, org.calls, 3, "2026-11-02"))  # at 10:00 in Moscow
    speaking(client, org.ann, language)
    html = fragment(client.get(f"/people/{org.ann.user_id}/").content.decode(), "recent-actions")
    assert f"<td>{shown}</td>" in html


def test_points_and_figures_keep_their_decimals_on_the_profile(client, org):
    record(org.company, (org.ann, org.deals, Decimal(3), "2026-11-02"))  # 3 deals, 10 points each
    client.force_login(org.ann.user)
    html = fragment(client.get(f"/people/{org.ann.user_id}/").content.decode(), "recent-actions")
    assert '<td class="num">3.00</td>' in html  # "points" show two decimals
    assert '<td class="num">30.00</td>' in html


def test_a_target_without_a_value_yet_is_no_missing_target(client, org, on_the_tenth):
    """A KPI with a target and nothing recorded shows "—" for progress, not "no target"."""
    with company_context(org.company.id):
        target_create(kpi=org.deals, period="month", start=NOVEMBER, value="30")
        target_create(kpi=org.calls, period="month", start=NOVEMBER, value="30")
        # no action: no average ("—"); in the secondary table (a primary KPI is a tile)
        kpi_update(kpi=org.calls, aggregation="average", kind="secondary")
    client.force_login(org.admin.user)
    response = client.get("/dashboards/company/", {"period": "month", "date": "2026-11-01"})
    html = response.content.decode()
    row = re.search(rf'<tr data-kpi="{org.calls.id}".*?</tr>', html, re.S).group(0)
    assert "no target" not in row
    assert re.search(
        r'class="progress-cell"><span class="muted" title="No value in this period">—</span>', row
    )


def test_the_export_rounds_as_the_page_does(client, org, on_the_tenth):
    """The csv has the page's figures: deals counted in whole numbers, a week's share of 29 deals
    with its cents (6.77), an average with two decimals."""
    with company_context(org.company.id):
        kpi_update(kpi=org.deals, unit=unit_create(name={"en": "deals", "ru": "сделки"}, decimals=0))
        kpi_update(kpi=org.calls, aggregation="average")
        target_create(kpi=org.deals, period="month", start=NOVEMBER, value="29")
    record(
        org.company,
        (org.ann, org.deals, 2, "2026-11-09"),
        (org.ann, org.calls, 1, "2026-11-09"),
        (org.bob, org.calls, 2, "2026-11-09"),
        (org.cid, org.calls, 2, "2026-11-09"),
    )
    client.force_login(org.admin.user)
    body = client.get("/dashboards/company/export.csv", {"period": "week", "date": "2026-11-10"})
    text = b"".join(body.streaming_content).decode("utf-8-sig")
    rows = {row[0]: row for row in csv.reader(io.StringIO(text))}
    assert rows["Deals won"][3:6] == ["2", "6.77", "1.93"]
    assert rows["Calls made"][3] == "1.67"  # (1 + 2 + 2) / 3
