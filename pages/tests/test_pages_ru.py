"""D6: the main pages in Russian show no English text of the interface. Every msgid of the
project's catalogue that a page shows in English must be gone from the same page in Russian."""

import html
import re
from pathlib import Path

import pytest
from django.conf import settings

from ratings.tests.pages_org import build_org, record

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"


def interface_strings() -> list[str]:
    """The catalogue's English strings that Russian spells differently, without placeholders."""
    text = CATALOGUE.read_text()
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', text, flags=re.M)
    return [
        msgid
        for msgid, msgstr in pairs
        if msgid != msgstr and "%" not in msgid and re.search("[A-Za-z]{2}", msgid)
    ]


def visible_text(response) -> str:
    page = response.content.decode()
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'\b(?:aria-label|title|placeholder)="([^"]*)"', r"> \1 <", page)  # read aloud or shown
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def shown(phrase: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


@pytest.fixture
def org(company, make_member):
    org = build_org(company, make_member)
    record(company, (org.ann, org.calls, 10, "2026-11-02"), (org.cid, org.deals, 1, "2026-11-03"))
    return org


def test_the_main_pages_in_russian_have_no_english_interface_text(client, org):
    pages = {
        org.ann: [
            "/",
            f"/people/{org.ann.user_id}/",
            f"/dashboards/teams/{org.alpha.id}/",
            "/leaderboard/",
            "/dashboards/",
        ],
        org.admin: [
            "/dashboards/company/",
            "/dashboards/company/?by=units&period=week",
            f"/dashboards/departments/{org.sales.id}/?from=2026-10-01&to=2026-11-10",
            "/leaderboard/?period=all",
            "/logger/",
            "/organization/",
            "/organization/settings/",
        ],
    }
    # the settings page with a history entry and a KPI that misses its Russian name
    from kpis.models import Kpi
    from orgs.services import company_update
    from orgs.tenancy import company_context

    with company_context(org.company.id):
        company_update(company=org.company, actor=org.admin, report_hour=9, self_reporting=True)
        Kpi.objects.filter(id=org.calls.id).update(name_ru="")
    strings = interface_strings()
    checked = 0
    for member, urls in pages.items():
        client.force_login(member.user)
        for url in urls:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
            english = visible_text(client.get(url))
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
            russian_response = client.get(url)
            assert 'lang="ru"' in russian_response.content.decode()
            russian = visible_text(russian_response)
            on_page = [phrase for phrase in strings if shown(phrase, english)]
            assert [phrase for phrase in on_page if shown(phrase, russian)] == [], url
            checked += len(on_page)
    assert checked > 100  # the check saw the pages' interface, not an empty catalogue
