"""The KPI step of the demo company (``kpis.demo.demo_kpis``, run by ``seed_demo``)."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine

from kpi_platform import hooks
from kpis import services, terms
from kpis.demo import KPIS, MONTHS, UNITS, demo_kpis, round_parts
from kpis.models import (
    Change,
    Direction,
    Kpi,
    KpiAudience,
    KpiHide,
    KpiKind,
    KpiName,
    KpiStatus,
    Level,
    Target,
    TargetPart,
    TargetScope,
    Unit,
    UnitName,
)
from kpis.selectors import kpi_list_for_member, kpi_list_for_team
from orgs import demo as org_demo
from orgs.demo import MEMBER_EMAIL, Demo
from orgs.models import Company
from orgs.services import company_create
from orgs.tenancy import company_context
from ratings import dashboards
from ratings.windows import window_of

# The demo is seeded on Sunday 6 December 2026 in Moscow: its week (30 November – 6 December)
# straddles two months.
SEEDED_ON = datetime.datetime(2026, 12, 6, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Moscow"))

KPI_MODELS = (Unit, UnitName, Kpi, KpiName, KpiHide, KpiAudience, Target, TargetPart, Change)


def _demo_organization() -> Demo:
    """The demo's organization (the steps before this one); the caller enters the company's context."""
    company, _created = company_create(
        slug=org_demo.DEMO_SLUG, name=org_demo.DEMO_NAME, languages=["en", "ru"], time_zone="Europe/Moscow"
    )
    demo = Demo(company=company)
    with company_context(company.id):
        steps = hooks.demo_steps.receivers
        for step in steps[: steps.index(demo_kpis)]:
            step(demo)
    return demo


@pytest.fixture
def demo(db) -> Demo:
    """The demo's organization, inside the demo company's context, for a test that runs the step."""
    demo = _demo_organization()
    with company_context(demo.company.id):
        yield demo


def _seed_once() -> Demo:
    """The demo's organization and KPIs as ``seed_demo`` makes them on ``SEEDED_ON``. Only the
    targets depend on the day; the tests that run the step themselves run it on any day."""
    with time_machine.travel(SEEDED_ON, tick=False):
        demo = _demo_organization()
        with company_context(demo.company.id):
            demo_kpis(demo)
    return demo


@pytest.fixture(scope="class")
def _seeded_once(made_once):
    with made_once(_seed_once) as demo:
        yield demo


@pytest.fixture
def seeded(_seeded_once, db) -> Demo:
    """The demo with its KPIs as ``seed_demo`` makes them on ``SEEDED_ON`` (``demo_kpis`` run once
    for ``TestTheDemoAsSeeded``), inside the demo company's context."""
    with company_context(_seeded_once.company.id):
        yield _seeded_once


def rows(model) -> list[dict]:
    return list(model.objects.values().order_by("pk"))


def test_the_step_is_registered_after_the_organization():
    steps = hooks.demo_steps.receivers
    assert steps.count(demo_kpis) == 1
    assert steps.index(demo_kpis) > steps.index(org_demo.demo_heads)


def test_a_second_run_changes_nothing(demo):
    # given the step, run once
    demo_kpis(demo)
    before = {model.__name__: rows(model) for model in KPI_MODELS}
    created = dict(demo.created)
    # when it runs again
    demo.created.clear()
    demo_kpis(demo)
    # then no row changed, and no history entry was added
    assert {model.__name__: rows(model) for model in KPI_MODELS} == before
    assert not demo.created
    assert created["KPIs"] == len(KPIS) == Kpi.objects.count()
    assert created["units"] == len(UNITS)
    assert created["targets"] == Target.objects.count()
    assert len(before["Change"]) == Change.objects.count() > created["targets"] + created["KPIs"]


@pytest.fixture
def on_the_sixth_of_december(time_machine):
    """The clock at ``SEEDED_ON``, when ``seeded`` was made."""
    time_machine.move_to(SEEDED_ON, tick=False)


def round_enough(value: Decimal) -> bool:
    """No pro-rated figure such as 39,130,434.78: three significant digits at most (105,000,000,
    7,000,000, 4.5, 140, 1,900)."""
    return len(value.normalize().as_tuple().digits) <= 3


class TestTheDemoAsSeeded:
    """The tests that only read the demo's KPIs and targets share one run of the step (``seeded``,
    made for this class and rolled back after it), made on ``SEEDED_ON``."""

    def test_the_demo_has_the_kpis_of_a_sales_and_support_company(self, seeded):
        kpis = list(Kpi.objects.select_related("unit"))
        active = [kpi for kpi in kpis if kpi.status == KpiStatus.ACTIVE]
        # 12+ KPIs, most of them Active, a few Hidden
        assert len(kpis) >= 12
        assert 2 <= len(kpis) - len(active) < len(active)
        # at every level, both kinds
        assert {kpi.level for kpi in active} == set(Level.values)
        assert {kpi.kind for kpi in active} == set(KpiKind.values)
        assert {kpi.department.name for kpi in active if kpi.level == Level.DEPARTMENT} == {
            "Sales",
            "Customer Success",
        }
        # in the rating with different ratios, e.g. 1 contract = 10 points, 5 calls = 1 point
        ratios = {
            (kpi.unit.name_en, str(kpi.rating_units), kpi.rating_points) for kpi in kpis if kpi.in_rating
        }
        assert {
            ("contracts", "1.00", 10),
            ("calls", "5.00", 1),
            ("RUB", "1000.00", 1),
            ("hours", "0.50", 1),
        } <= ratios
        # with owners, categories, perspectives, and one lower-is-better
        assert all(kpi.owner_id and kpi.category and kpi.perspective for kpi in kpis)
        assert [kpi.integration_name for kpi in kpis if kpi.direction == Direction.LOWER_IS_BETTER] == [
            "first_response_time"
        ]

    def test_active_kpis_are_complete_in_both_languages_and_link_each_other(self, seeded):
        active = Kpi.objects.filter(status=KpiStatus.ACTIVE)
        for kpi in active:
            assert services.kpi_missing_translations(kpi, seeded.company) == [], kpi.integration_name
            assert kpi.description_en
            assert kpi.description_ru
            assert kpi.name_en != kpi.name_ru
        descriptions = [kpi.description_en for kpi in active] + [kpi.description_ru for kpi in active]
        internal = [target for text in descriptions for target in terms.internal_targets(text)]
        assert internal
        assert {target_id for _section, target_id in internal} <= set(
            Kpi.objects.values_list("id", flat=True)
        )
        assert any("](https://" in text for text in descriptions)
        assert not [text for text in descriptions if terms.find_link_errors(text)]

    def test_inherited_kpis_are_hidden_lower_down(self, seeded):
        sales, mid_market = seeded.departments["Sales"], seeded.teams["Mid-Market Sales"]
        hides = {
            (hide.kpi.integration_name, str(hide.department or hide.team)) for hide in KpiHide.objects.all()
        }
        # a company KPI hidden for a department, a department KPI hidden for one of its teams
        assert hides == {("referral_leads", "Sales"), ("product_demos", "Mid-Market Sales")}
        assert Kpi.objects.get(integration_name="referral_leads").level == Level.COMPANY
        assert Kpi.objects.get(integration_name="product_demos").level == Level.DEPARTMENT
        assert not kpi_list_for_team(mid_market).filter(integration_name="product_demos").exists()
        assert (
            kpi_list_for_team(seeded.teams["Enterprise Sales"])
            .filter(integration_name="product_demos")
            .exists()
        )
        # and nobody in Sales gets the company KPI Sales hid
        sales_people = [member for member in seeded.members.values() if member.department_id == sales.id]
        assert sales_people
        for member in sales_people:
            assert not kpi_list_for_member(member).filter(integration_name="referral_leads").exists()

    def test_one_kpi_reaches_chosen_people_only(self, seeded):
        renewals = Kpi.objects.get(integration_name="key_account_renewals")
        chosen = set(KpiAudience.objects.filter(kpi=renewals).values_list("member__user__email", flat=True))
        assert MEMBER_EMAIL in chosen
        assert (
            2
            < len(chosen)
            < len(
                [
                    p
                    for p in org_demo.PEOPLE
                    if p.department == "Sales" or p.team in ("Enterprise Sales", "Mid-Market Sales")
                ]
            )
        )
        for email, member in seeded.members.items():
            reaches = kpi_list_for_member(member).filter(id=renewals.id).exists()
            assert reaches == (email in chosen), email

    def test_every_active_kpi_has_a_round_company_target_for_every_month_it_shows(
        self, seeded, on_the_sixth_of_december
    ):
        """Issue 18, item 5: no grey dot on the company dashboard for the current week, month,
        quarter and year, nor for the months of the demo's data, and no odd pro-rated target."""
        # when the demo's KPIs and targets are made (on that day, ``seeded``)
        active = list(Kpi.objects.filter(status=KpiStatus.ACTIVE).select_related("unit"))
        holder = dashboards.company_holder(seeded.company.name)
        # then each window a dashboard shows by default has a target for every Active KPI, and a round one
        today = datetime.date(2026, 12, 6)
        current = [window_of(kind, today, today) for kind in ("week", "month", "quarter", "year")]
        past = [window_of("month", today, today).shifted(back) for back in range(1, MONTHS)]
        assert [window.start for window in past] == [
            datetime.date(2026, month, 1) for month in (11, 10, 9, 8)
        ]
        for window in current + past:
            figures = dashboards.kpi_figures(holder, active, window, ["en"])
            missing = [figure.kpi.integration_name for figure in figures if figure.target is None]
            assert not missing, (window.kind, window.start, missing)
            odd = [
                (figure.kpi.integration_name, figure.target)
                for figure in figures
                if not round_enough(figure.target)
            ]
            assert not odd, (window.kind, window.start, odd)
        # as a brute-force check, straight from the table: this month's target of every KPI at its
        # own level (K6), which is the company's for a department's or a team's KPI
        month = Target.objects.filter(period="month", start=datetime.date(2026, 12, 1)).select_related("kpi")
        own = {
            target.kpi_id
            for target in month
            if target.scope == target.kpi.level == "company"
            or (
                target.scope == target.kpi.level == "department"
                and target.department_id == target.kpi.department_id
            )
            or (target.scope == target.kpi.level == "team" and target.team_id == target.kpi.team_id)
        }
        assert own == {kpi.id for kpi in active}

    def test_units_and_people_have_targets_and_the_parts_add_up(self, seeded, on_the_sixth_of_december):
        targets = list(Target.objects.prefetch_related("parts"))
        assert {target.period for target in targets} == {"month", "quarter", "year"}
        assert {target.scope for target in targets} == set(TargetScope.values)
        # a quantity's month and quarter are split into weeks by hand, in round parts that add up
        broken = [target for target in targets if target.breakdown_method]
        assert {target.breakdown_method for target in broken} == {"manual"}
        for target in broken:
            assert sum(part.value for part in target.parts.all()) == target.value
            assert all(round_enough(part.value) for part in target.parts.all() if part.value)
        # a quarter is the sum of its months (K11: a level is the same in each)
        revenue = Kpi.objects.get(integration_name="revenue")
        company = Target.objects.filter(kpi=revenue, scope=TargetScope.COMPANY)
        assert (
            company.get(period="quarter", start=datetime.date(2026, 10, 1)).value
            == 3 * company.get(period="month", start=datetime.date(2026, 10, 1)).value
        )
        csat = Target.objects.filter(kpi__integration_name="csat", scope=TargetScope.COMPANY)
        assert set(csat.values_list("value", flat=True)) == {Decimal("4.5")}
        # the member of the demo has targets of their own
        assert Target.objects.filter(member=seeded.members[MEMBER_EMAIL]).count() >= 3


@pytest.mark.parametrize(
    ("value", "weights", "parts"),
    [
        ("35000000", [6, 7, 7, 7, 4], ["7000000", "8000000", "8000000", "8000000", "4000000"]),
        ("30", [1, 7, 7, 7, 7, 1], ["1", "7", "7", "7", "7", "1"]),
        ("3", [6, 7, 7, 7, 4], ["1", "1", "1", "0", "0"]),
        ("140", [7, 7, 7, 7, 2], ["30", "30", "30", "40", "10"]),
    ],
)
def test_round_parts_add_up_in_round_steps(value, weights, parts):
    shares = round_parts(Decimal(value), weights)
    assert sum(shares) == Decimal(value)
    assert sorted(shares) == sorted(Decimal(part) for part in parts)


def test_a_changed_demo_keeps_its_changes(demo):
    # given the demo, where an admin since showed a hidden KPI again and deleted a target
    demo_kpis(demo)
    demos = Kpi.objects.get(integration_name="product_demos")
    services.kpi_unhide(kpi=demos, team=demo.teams["Mid-Market Sales"])
    target = Target.objects.filter(scope=TargetScope.COMPANY).first()
    services.target_delete(target=target)
    # when the demo is seeded again
    demo.created.clear()
    demo_kpis(demo)
    # then the KPI stays shown, and the missing target is back
    assert not KpiHide.objects.filter(kpi=demos).exists()
    assert demo.created == {"targets": 1}


def test_the_company_of_the_demo_is_the_only_one_touched(demo, other_company):
    with company_context(other_company.id):
        before = {model.__name__: rows(model) for model in KPI_MODELS}
    demo_kpis(demo)
    with company_context(other_company.id):
        assert {model.__name__: rows(model) for model in KPI_MODELS} == before
    assert Company.objects.count() == 2
