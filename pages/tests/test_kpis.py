"""The KPI page (/kpis/<id>/) and "My KPIs" on Home: who sees what (K6, K8, O2), in which language
(D6), and descriptions rendered as text with links only (K7)."""

import datetime
import re
import zoneinfo
from html.parser import HTMLParser
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kpis import services, terms
from kpis.models import Kpi
from kpis.selectors import period_starts
from kpis.services import Audience
from kpis.tests.factories import make_active_kpi, make_kpi
from kpis.tests.test_selectors import AUDIENCES, build_org
from orgs.demo import DEMO_PASSWORD, MEMBER_EMAIL
from orgs.models import Role
from orgs.services import department_create, team_create
from orgs.tenancy import company_context
from orgs.tests.factories import MemberFactory


def today(company) -> datetime.date:
    """Today where the company is: what the page calls the current period."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(company.time_zone))


def page(client, kpi: Kpi):
    return client.get(reverse("kpi-page", args=[kpi.id]))


def signed_in(client, member):
    client.force_login(member.user)
    return client


def fragment(html: str, element_id: str) -> str:
    """The inner HTML of the element with ``element_id`` (no nesting of the same tag inside)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.DOTALL)
    assert match, f"no #{element_id} in the page"
    return match.group(2)


class Tags(HTMLParser):
    """Every start tag with its attributes; text, entities and all, is not a tag."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# --- Language (D6) ---------------------------------------------------------------------------------


def test_the_page_shows_name_description_and_unit_in_a_russian_speakers_language(client, in_company):
    # given a KPI in English and Russian, and a person who reads Russian
    unit = services.unit_create(name={"en": "calls", "ru": "звонки"})
    kpi = make_active_kpi(
        in_company,
        name={"en": "Calls made", "ru": "Совершённые звонки"},
        description={"en": "Calls to clients.", "ru": "Звонки клиентам."},
        unit=unit,
        in_rating=True,
        rating_units="5",
        rating_points=1,
    )
    ivan = MemberFactory(language="ru")
    # when Ivan opens it (with the interface in English)
    with company_context(None):
        html = page(signed_in(client, ivan), kpi).content.decode()
    # then its texts are in Russian
    assert fragment(html, "kpi-name") == "Совершённые звонки"
    assert fragment(html, "kpi-description") == "Звонки клиентам."
    assert fragment(html, "kpi-unit") == "звонки"
    assert "Calls made" not in html
    assert fragment(html, "kpi-rating").strip() == "звонки: 5 = 1 point"


def test_an_english_reader_sees_english(client, in_company):
    kpi = make_active_kpi(in_company, name={"en": "Calls made", "ru": "Совершённые звонки"})
    ann = MemberFactory(language="en")
    with company_context(None):
        html = page(signed_in(client, ann), kpi).content.decode()
    assert fragment(html, "kpi-name") == "Calls made"


def test_without_a_language_of_their_own_a_person_reads_the_interfaces(client, in_company):
    # given a person with no language, who switched the interface to Russian
    kpi = make_active_kpi(in_company, name={"en": "Calls made", "ru": "Совершённые звонки"})
    ann = MemberFactory(language="")
    signed_in(client, ann).post("/i18n/setlang/", {"language": "ru", "next": "/"})
    # when they open the KPI
    with company_context(None):
        html = page(client, kpi).content.decode()
    # then the KPI and the page speak Russian
    assert fragment(html, "kpi-name") == "Совершённые звонки"
    assert "Единица измерения" in html


def test_an_empty_translation_falls_back_to_the_companys_default_language(client, in_company):
    # given a Hidden draft named and described in English only (an Active KPI is complete, K5),
    # which a company admin who reads Russian may open
    kpi = make_kpi(name={"en": "Upsell revenue"}, description={"en": "Draft terms."})
    admin = MemberFactory(role=Role.ADMIN, language="ru")
    # when the admin opens it
    with company_context(None):
        html = page(signed_in(client, admin), kpi).content.decode()
    # then the English texts stand in for the missing Russian ones
    assert fragment(html, "kpi-name") == "Upsell revenue"
    assert fragment(html, "kpi-description") == "Draft terms."


def test_the_page_shows_the_kind_direction_rating_and_level(client, in_company):
    # given a secondary, lower-is-better team KPI counted as 0.5 hours = 1 point
    team = team_create(name="Support", department=department_create(name="Customer Success"))
    hours = services.unit_create(name={"en": "hours", "ru": "часы"})
    kpi = make_active_kpi(
        in_company,
        level="team",
        team=team,
        unit=hours,
        kind="secondary",
        direction="lower_is_better",
        in_rating=True,
        rating_units="0.50",
        rating_points=1,
    )
    person = MemberFactory(team=team)
    with company_context(None):
        html = page(signed_in(client, person), kpi).content.decode()
    assert "Secondary" in html
    assert "Lower is better" in html
    assert fragment(html, "kpi-rating").strip() == "hours: 0.5 = 1 point"
    assert fragment(html, "kpi-level").strip() == "Team “Support”"


def test_a_kpi_out_of_the_rating_says_so(client, in_company):
    kpi = make_active_kpi(in_company)
    person = MemberFactory()
    with company_context(None):
        html = page(signed_in(client, person), kpi).content.decode()
    assert fragment(html, "kpi-rating").strip() == "Not counted in the rating"
    assert fragment(html, "kpi-level").strip() == "Whole company"


# --- Targets (K9) ----------------------------------------------------------------------------------


def test_the_page_shows_the_targets_of_the_current_period_the_person_may_see(client, in_company):
    # given targets this month for the company, the person's team, the person and a colleague,
    # one for last month, and a quarter target broken down into months
    sales = department_create(name="Sales")
    alpha = team_create(name="Alpha", department=sales)
    ann, bob = MemberFactory(team=alpha, first_name="Ann"), MemberFactory(team=alpha, first_name="Bob")
    kpi = make_active_kpi(in_company)
    starts = period_starts(today(in_company))
    month, quarter = starts["month"], starts["quarter"]
    services.target_create(kpi=kpi, period="month", start=month, value="1000")
    services.target_create(kpi=kpi, period="month", start=month, value="300", scope="team", team=alpha)
    services.target_create(kpi=kpi, period="month", start=month, value="111", scope="user", member=ann)
    services.target_create(kpi=kpi, period="month", start=month, value="222", scope="user", member=bob)
    last_month = (month - datetime.timedelta(days=1)).replace(day=1)
    services.target_create(kpi=kpi, period="month", start=last_month, value="999")
    split = services.target_create(kpi=kpi, period="quarter", start=quarter, value="3000")
    services.target_break_down(target=split, into="month", method="even")
    # when Ann opens the KPI
    with company_context(None):
        html = fragment(page(signed_in(client, ann), kpi).content.decode(), "kpi-targets")
    # then she sees this month's company, team and own targets and the quarter's, not Bob's nor last month's
    values = re.findall(r'<td class="num">(?:≤ )?([\d,.]+)', html)
    assert values == ["1,000.00", "300.00", "111.00", "3,000.00"]  # "points": two decimals
    assert "Alpha" in html
    assert "now: 1,000.00" in html  # this month's share of the quarter


def test_a_count_broken_down_by_days_shows_this_weeks_share_with_its_cents(client, in_company, time_machine):
    """K9, issue 18: 4 contracts a month split into weeks by days is 0.93 a week; a KPI counted
    one by one shows whole numbers, but not a share that has cents (it is no "1")."""
    # on a fixed day: in a month of 28 days a whole week's share of 4 is exactly 1, not a fraction
    time_machine.move_to(datetime.datetime(2026, 11, 18, 12, tzinfo=in_company.zone), tick=True)
    # given this month's target of 4 contracts, broken down into weeks by number of days
    ann = MemberFactory()
    contracts = services.unit_create(name={"en": "contracts", "ru": "договоры"}, decimals=0)
    kpi = make_active_kpi(in_company, unit=contracts)
    now = today(in_company)
    month = period_starts(now)["month"]
    target = services.target_create(kpi=kpi, period="month", start=month, value="4")
    target = services.target_break_down(target=target, into="week", method="days")
    share = next(part.value for part in target.parts.all() if part.start <= now <= part.end)
    # when Ann opens the KPI
    with company_context(None):
        html = fragment(page(signed_in(client, ann), kpi).content.decode(), "kpi-targets")
    # then the month's target shows as counted, and this week's share with its cents
    assert share != share.to_integral_value()  # a fraction, e.g. 0.93
    assert re.search(r'<td class="num">\s*4</td>', html)
    assert f"now: {share:.2f} (" in html


# --- Links and text (K7) ---------------------------------------------------------------------------

HOSTILE = (
    "<script>alert(1)</script>\n"
    "[x](javascript:alert(1))\n"
    "[<img src=x onerror=alert(1)>](https://ok.example)\n"
    "[[a](https://x.example)]\n"
    '" onmouseover="alert(1)\n'
)


def test_a_description_renders_as_text_with_only_its_valid_links(client, in_company):
    # given a KPI whose description (and name) try every way into the page's HTML; the services
    # refuse a javascript: link, so it is written straight to the row, as an old import might have
    kpi = make_active_kpi(in_company, name={"en": "<b>Bold</b>", "ru": "<i>Курсив</i>"})
    Kpi.objects.filter(id=kpi.id).update(description_en=HOSTILE, description_ru=HOSTILE)
    person = MemberFactory()
    # when someone opens it
    with company_context(None):
        html = page(signed_in(client, person), kpi).content.decode()
    description = fragment(html, "kpi-description")
    # then the only markup is two links to the two valid https addresses, and line breaks
    tags = Tags(description).tags
    assert {tag for tag, _attrs in tags} == {"a", "br"}
    links = [attrs for tag, attrs in tags if tag == "a"]
    assert [link["href"] for link in links] == ["https://ok.example", "https://x.example"]
    assert all(set(link) == {"href", "rel", "target"} for link in links)
    # and everything else is visible text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in description
    assert "[x](javascript:alert(1))" in description
    assert ">&lt;img src=x onerror=alert(1)&gt;</a>" in description
    assert "[<a " in description
    assert "</a>]" in description
    assert "&quot; onmouseover=&quot;alert(1)" in description
    # and nowhere in the page
    assert "<script>alert" not in html
    assert 'href="javascript:' not in html
    assert not re.search(r"<[^>]*\sonerror=", html)
    assert not re.search(r"<[^>]*\sonmouseover=", html)
    assert fragment(html, "kpi-name") == "&lt;b&gt;Bold&lt;/b&gt;"


def test_an_internal_link_points_to_the_kpi_page(client, in_company):
    # given a KPI whose terms link another
    target = make_active_kpi(in_company)
    kpi = make_active_kpi(
        in_company,
        description={
            "en": f"See [the other](internal:kpis/{target.id}).",
            "ru": f"См. [другой](internal:kpis/{target.id}).",
        },
    )
    # when someone opens it, then the link leads to the other's page, which opens
    member = MemberFactory()
    with company_context(None):
        html = page(signed_in(client, member), kpi).content.decode()
        assert f'<a href="/kpis/{target.id}/">the other</a>' in fragment(html, "kpi-description")
        assert client.get(f"/kpis/{target.id}/").status_code == 200


def test_links_to_every_section_render_as_links_only_for_readers_who_open_them(
    client, in_company, other_company, django_assert_max_num_queries
):
    # given a company-wide KPI whose terms link a KPI, each kind of dashboard, a profile and each
    # kind of leaderboard of the company, and one written straight to the row (as an old import
    # might have) to another company's team
    org = build_org(in_company)
    admin = MemberFactory(email="ada@acme.example", role=Role.ADMIN)
    with company_context(other_company.id):
        theirs = team_create(name="Theirs", department=department_create(name="Their dept"))
    targets = [
        ("kpis", org.kpis["A1"].id),
        ("dashboards/company", in_company.id),
        ("dashboards/departments", org.sales.id),
        ("dashboards/teams", org.alpha.id),
        ("people", org.people["ann"].user_id),
        ("leaderboard/company", in_company.id),
        ("leaderboard/departments", org.sales.id),
        ("leaderboard/teams", org.alpha.id),
    ]
    text = " ".join(f"[{section}](internal:{section}/{target_id})" for section, target_id in targets)
    kpi = make_active_kpi(in_company, description={"en": text, "ru": text})
    Kpi.objects.filter(id=kpi.id).update(
        description_en=f"{text} [foreign](internal:dashboards/teams/{theirs.id})"
    )
    for reader in (admin, org.people["ann"], org.people["gil"]):
        with company_context(None):
            signed_in(client, reader)
            with django_assert_max_num_queries(60):
                html = fragment(page(client, kpi).content.decode(), "kpi-description")
            hrefs = {
                title: href.replace("&amp;", "&")
                for href, title in re.findall(r'<a href="([^"]*)">([^<]*)</a>', html)
            }
            # then every link opens for this reader, and every section they cannot open is text
            for title, href in hrefs.items():
                assert client.get(href).status_code == 200, (reader, title)
            for section, target_id in targets:
                if section not in hrefs:
                    assert section in html  # shown as its title
                    url = terms.INTERNAL_SECTIONS[section](target_id)
                    assert client.get(url).status_code in (403, 404), (reader, section)
            assert "foreign" in html
            assert "foreign" not in hrefs
        if reader is admin:
            assert set(hrefs) == {section for section, _id in targets}
        elif reader is org.people["ann"]:
            # Ann (Alpha): her KPI, her team's dashboard, her profile, every leaderboard she is in
            assert set(hrefs) == {
                "kpis",
                "dashboards/teams",
                "people",
                "leaderboard/company",
                "leaderboard/departments",
                "leaderboard/teams",
            }
        else:
            assert set(hrefs) == {"leaderboard/company"}  # Gil is in Support


# --- Who may open it (K5, K6, K8, O2) --------------------------------------------------------------


def test_the_page_needs_a_signed_in_user(client, in_company):
    kpi = make_active_kpi(in_company)
    with company_context(None):
        response = page(client, kpi)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_every_person_opens_exactly_the_active_kpis_that_reach_them(client, in_company):
    # given the hierarchy of test_selectors, where each person is reached by some KPIs only
    org = build_org(in_company)
    # then each person opens the Active KPIs that reach them, and gets a 404 for every other one:
    # out of the audience, another team's KPI, a hidden inherited one, Hidden or archived
    for name, person in org.people.items():
        with company_context(None):
            signed_in(client, person)
            opened = {key for key, kpi in org.kpis.items() if page(client, kpi).status_code == 200}
            refused = {key for key, kpi in org.kpis.items() if page(client, kpi).status_code == 404}
        expected = {key for key, people in AUDIENCES.items() if name in people} - {"H1", "X1"}
        assert opened == expected, name
        assert refused == set(org.kpis) - expected, name


def test_a_member_not_in_the_audience_gets_404(client, in_company):
    ann, bob = MemberFactory(), MemberFactory()
    kpi = make_active_kpi(in_company, audience=Audience(members=[bob]))
    with company_context(None):
        assert page(signed_in(client, ann), kpi).status_code == 404
        assert page(signed_in(client, bob), kpi).status_code == 200


def test_a_member_of_another_team_gets_404_for_a_team_kpi(client, in_company):
    sales = department_create(name="Sales")
    alpha, beta = team_create(name="Alpha", department=sales), team_create(name="Beta", department=sales)
    kpi = make_active_kpi(in_company, level="team", team=alpha)
    in_beta, in_alpha = MemberFactory(team=beta), MemberFactory(team=alpha)
    with company_context(None):
        assert page(signed_in(client, in_beta), kpi).status_code == 404
        assert page(signed_in(client, in_alpha), kpi).status_code == 200


def test_another_companys_user_gets_404_even_as_its_admin(client, company, other_company, in_company):
    # given a company-wide KPI of ours and one of our people, and the admin of another company
    kpi = make_active_kpi(company)
    ours = MemberFactory()
    with company_context(other_company.id):
        stranger = MemberFactory(role=Role.ADMIN, email="boss@globex.example")
        theirs = make_active_kpi(other_company)
    # when they open our KPI, then it does not exist for them, while their own does
    with company_context(None):
        signed_in(client, stranger)
        assert page(client, kpi).status_code == 404
        assert page(client, theirs).status_code == 200
    # and our people cannot open theirs
    with company_context(None):
        assert page(signed_in(client, ours), theirs).status_code == 404


def test_a_platform_operator_without_a_company_gets_404(client, in_company, django_user_model):
    kpi = make_active_kpi(in_company)
    root = django_user_model.objects.create_superuser("root@platform.example", "pass-2026-word")
    with company_context(None):
        client.force_login(root)
        assert page(client, kpi).status_code == 404
        assert client.get("/").status_code == 200


def test_an_unknown_or_huge_id_is_a_404(client, in_company):
    member = MemberFactory()
    with company_context(None):
        signed_in(client, member)
        assert client.get("/kpis/999999/").status_code == 404
        assert client.get(f"/kpis/{2**70}/").status_code == 404


# --- Home: my KPIs ---------------------------------------------------------------------------------


def kpi_links(html: str) -> set[int]:
    return {int(kpi_id) for kpi_id in re.findall(r'href="/kpis/(\d+)/"', html)}


def test_home_lists_exactly_the_persons_kpis_split_into_primary_and_secondary(client, in_company):
    # given the hierarchy of test_selectors, with S1 made secondary
    org = build_org(in_company)
    services.kpi_update(kpi=org.kpis["S1"], kind="secondary")
    for name, person in org.people.items():
        # when each person opens Home
        with company_context(None):
            html = signed_in(client, person).get("/").content.decode()
        # then it links exactly their Active KPIs, S1 among the secondary ones
        expected = {org.kpis[key].id for key, people in AUDIENCES.items() if name in people} - {
            org.kpis["H1"].id,
            org.kpis["X1"].id,
        }
        assert kpi_links(fragment(html, "my-kpis")) == expected, name
        secondary = kpi_links(fragment(html, "secondary-kpis"))
        assert secondary == ({org.kpis["S1"].id} & expected), name


def test_home_shows_kpi_names_in_the_readers_language(client, in_company):
    make_active_kpi(in_company, name={"en": "Calls made", "ru": "Совершённые звонки"})
    ivan = MemberFactory(language="ru")
    with company_context(None):
        html = signed_in(client, ivan).get("/").content.decode()
    assert "Совершённые звонки" in fragment(html, "primary-kpis")
    assert "Calls made" not in html


def test_home_of_someone_without_kpis_says_so(client, in_company):
    person = MemberFactory()
    with company_context(None):
        html = signed_in(client, person).get("/").content.decode()
    assert "No KPIs are assigned to you yet." in html


# --- Query counts (STYLE 10) -----------------------------------------------------------------------


def count_queries(client, url: str) -> int:
    with company_context(None), CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# Home (D1) reads the person, their KPIs, each period's figures, targets, rank and team metrics,
# and the last actions of theirs and of their team's (stale KPIs, O1).
HOME_QUERIES = 21


def test_home_takes_the_same_queries_for_1_and_20_kpis(client, in_company, django_assert_num_queries):
    team = team_create(name="Alpha", department=department_create(name="Sales"))
    person = MemberFactory(team=team)
    make_active_kpi(in_company)
    signed_in(client, person)
    # session, user, the request's savepoint, person with company, their KPIs (units, departments,
    # teams joined), their audience, the savepoint's release
    with company_context(None), django_assert_num_queries(HOME_QUERIES):
        client.get("/")
    for number in range(19):
        make_active_kpi(
            in_company, level="team" if number % 2 else "company", team=team if number % 2 else None
        )
    with company_context(None), django_assert_num_queries(HOME_QUERIES):
        html = client.get("/").content.decode()
    assert len(kpi_links(html)) == 20


def test_the_kpi_page_takes_the_same_queries_for_1_and_20_kpis_and_targets(
    client, in_company, django_assert_num_queries
):
    team = team_create(name="Alpha", department=department_create(name="Sales"))
    person = MemberFactory(team=team)
    kpi = make_active_kpi(in_company)
    starts = period_starts(today(in_company))
    month = starts["month"]
    services.target_create(kpi=kpi, period="month", start=month, value="10")
    signed_in(client, person)
    url = reverse("kpi-page", args=[kpi.id])
    # session, user, the request's savepoint, person with company; the viewer's managed departments
    # and led teams (kpis.access); the KPI, its audience; the targets, their parts; the history
    # chart's day totals and targets (issue 18: the person's own, with no parts); the release
    expected = count_queries(client, url)
    assert expected == 13
    for _ in range(19):
        make_active_kpi(in_company)
    for number in range(19):
        other = MemberFactory(team=team)
        services.target_create(
            kpi=kpi, period="month", start=month, value=str(number), scope="user", member=other
        )
    target = services.target_create(kpi=kpi, period="quarter", start=starts["quarter"], value="90")
    services.target_break_down(target=target, into="month", method="even")
    with company_context(None), django_assert_num_queries(expected):
        client.get(url)


# --- In a browser (STYLE 13) -----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_member_of_the_demo_opens_a_kpi_from_home_in_english_and_russian(
    live_server, screenshot, browser_page
):
    # given the demo company, and its member signed in
    call_command("seed_demo", stdout=StringIO())
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", MEMBER_EMAIL)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # then Home lists their KPIs, primary apart from secondary
    assert "Revenue" in page.inner_text("#primary-kpis")
    assert "Calls made" in page.inner_text("#secondary-kpis")
    screenshot(page, "kpis-home")
    # when they open one, then its terms, ratio and targets are there, with working links
    page.click("#secondary-kpis a:text('Calls made')")
    page.wait_for_url(re.compile(r".*/kpis/\d+/$"))
    assert page.inner_text("#kpi-rating") == "calls: 5 = 1 point"
    assert page.get_attribute("#kpi-description a >> nth=0", "href").startswith("/kpis/")
    assert "You" in page.inner_text("#kpi-targets")
    screenshot(page, "kpis-page")
    # when they switch the interface to Russian, then the KPI speaks Russian too
    with page.expect_navigation():
        page.select_option("select[name=language]", "ru")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#kpi-name") == "Совершённые звонки"
    assert page.inner_text("#kpi-rating") == "звонки: 5 = 1 балл"
    screenshot(page, "kpis-page-ru")
    # and an internal link leads to the KPI it names
    page.click("#kpi-description a >> nth=0")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#kpi-name") == "Новые сделки в воронке"
