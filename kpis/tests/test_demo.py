"""The KPI step of the demo company (``kpis.demo.demo_kpis``, run by ``seed_demo``)."""

import zoneinfo

import pytest
from django.utils import timezone

from kpi_platform import hooks
from kpis import services, terms
from kpis.demo import KPIS, UNITS, demo_kpis
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
from kpis.selectors import kpi_list_for_member, kpi_list_for_team, period_starts
from orgs import demo as org_demo
from orgs.demo import MEMBER_EMAIL, Demo
from orgs.models import Company
from orgs.services import company_create
from orgs.tenancy import company_context

KPI_MODELS = (Unit, UnitName, Kpi, KpiName, KpiHide, KpiAudience, Target, TargetPart, Change)


@pytest.fixture
def demo(db) -> Demo:
    """The demo's organization (the steps before this one), inside the demo company's context."""
    company, _created = company_create(
        slug=org_demo.DEMO_SLUG, name=org_demo.DEMO_NAME, languages=["en", "ru"], time_zone="Europe/Moscow"
    )
    demo = Demo(company=company)
    with company_context(company.id):
        steps = hooks.demo_steps.receivers
        for step in steps[: steps.index(demo_kpis)]:
            step(demo)
        yield demo


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


def test_the_demo_has_the_kpis_of_a_sales_and_support_company(demo):
    demo_kpis(demo)
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
    ratios = {(kpi.unit.name_en, str(kpi.rating_units), kpi.rating_points) for kpi in kpis if kpi.in_rating}
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


def test_active_kpis_are_complete_in_both_languages_and_link_each_other(demo):
    demo_kpis(demo)
    active = Kpi.objects.filter(status=KpiStatus.ACTIVE)
    for kpi in active:
        assert services.kpi_missing_translations(kpi, demo.company) == [], kpi.integration_name
        assert kpi.description_en
        assert kpi.description_ru
        assert kpi.name_en != kpi.name_ru
    descriptions = [kpi.description_en for kpi in active] + [kpi.description_ru for kpi in active]
    internal = [target for text in descriptions for target in terms.internal_targets(text)]
    assert internal
    assert {target_id for _section, target_id in internal} <= set(Kpi.objects.values_list("id", flat=True))
    assert any("](https://" in text for text in descriptions)
    assert not [text for text in descriptions if terms.find_link_errors(text)]


def test_inherited_kpis_are_hidden_lower_down(demo):
    demo_kpis(demo)
    sales, mid_market = demo.departments["Sales"], demo.teams["Mid-Market Sales"]
    hides = {(hide.kpi.integration_name, str(hide.department or hide.team)) for hide in KpiHide.objects.all()}
    # a company KPI hidden for a department, a department KPI hidden for one of its teams
    assert hides == {("referral_leads", "Sales"), ("product_demos", "Mid-Market Sales")}
    assert Kpi.objects.get(integration_name="referral_leads").level == Level.COMPANY
    assert Kpi.objects.get(integration_name="product_demos").level == Level.DEPARTMENT
    assert not kpi_list_for_team(mid_market).filter(integration_name="product_demos").exists()
    assert kpi_list_for_team(demo.teams["Enterprise Sales"]).filter(integration_name="product_demos").exists()
    # and nobody in Sales gets the company KPI Sales hid
    sales_people = [member for member in demo.members.values() if member.department_id == sales.id]
    assert sales_people
    for member in sales_people:
        assert not kpi_list_for_member(member).filter(integration_name="referral_leads").exists()


def test_one_kpi_reaches_chosen_people_only(demo):
    demo_kpis(demo)
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
    for email, member in demo.members.items():
        reaches = kpi_list_for_member(member).filter(id=renewals.id).exists()
        assert reaches == (email in chosen), email


def test_targets_cover_the_current_month_quarter_and_year_at_every_level(demo):
    demo_kpis(demo)
    targets = list(Target.objects.all())
    assert {target.period for target in targets} == {"month", "quarter", "year"}
    assert {target.scope for target in targets} == set(TargetScope.values)
    # for the current periods, in the company's time zone
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(demo.company.time_zone))
    assert {target.start for target in targets} == set(period_starts(today).values())
    # some broken down evenly, some by number of days, and the parts add up
    broken = [target for target in targets if target.breakdown_method]
    assert {target.breakdown_method for target in broken} == {"even", "days"}
    for target in broken:
        assert sum(part.value for part in target.parts.all()) == target.value
    # the member of the demo has targets of their own
    assert Target.objects.filter(member=demo.members[MEMBER_EMAIL]).count() >= 3
    assert TargetPart.objects.count() > len(broken)


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
