"""The rules of KPI definitions (K1–K10), through the services every entry point calls."""

import datetime
from decimal import Decimal

import pytest

from kpi_platform.errors import DomainError
from kpis import services
from kpis.models import Change, Kpi, KpiStatus, TargetPart, Unit
from kpis.tests.factories import make_kpi, make_target, make_unit


def codes(excinfo) -> list[tuple[str, str | None]]:
    error = excinfo.value
    errors = error.errors
    return [(e.code, e.field) for e in errors]


# --- Units (K3) --------------------------------------------------------------------------------


def test_every_company_gets_an_undeletable_points_unit(in_company):
    # given a new company
    unit = Unit.objects.get(is_default=True)

    # then
    assert (unit.name_en, unit.name_ru) == ("points", "баллы")
    with pytest.raises(DomainError) as excinfo:
        services.unit_delete(unit=unit)
    assert codes(excinfo) == [("default_unit", None)]
    with pytest.raises(DomainError) as excinfo:
        services.unit_update(unit=unit, name={"en": "pts"})
    assert codes(excinfo) == [("default_unit", "name")]


@pytest.mark.parametrize("name", ["", "   ", "x" * 19])
def test_unit_name_has_1_to_18_characters(in_company, name):
    with pytest.raises(DomainError) as excinfo:
        services.unit_create(name={"en": name})
    assert codes(excinfo) == [("name_length", "name.en")]


def test_unit_name_of_18_characters_after_trimming_is_fine(in_company):
    unit = services.unit_create(name={"en": "  " + "x" * 18 + "  "})
    assert unit.name_en == "x" * 18


@pytest.mark.parametrize(
    "name", [{"en": "POINTS"}, {"ru": "Баллы", "en": "pts"}, {"en": "Calls"}, {"en": "Звонки"}]
)
def test_unit_names_are_unique_across_languages_and_case(in_company, name):
    # given a unit called "calls" / "звонки"
    services.unit_create(name={"en": "calls", "ru": "звонки"})

    # then no other unit may carry any of those names, nor "points", in any language
    with pytest.raises(DomainError) as excinfo:
        services.unit_create(name=name)
    assert excinfo.value.code == "name_taken"


def test_unit_in_use_cannot_be_deleted(in_company):
    unit = make_unit()
    make_kpi(unit=unit)
    with pytest.raises(DomainError) as excinfo:
        services.unit_delete(unit=unit)
    assert codes(excinfo) == [("unit_in_use", None)]


def test_unit_language_not_enabled_is_refused(other_company):
    from orgs.tenancy import company_context

    with company_context(other_company.id), pytest.raises(DomainError) as excinfo:
        services.unit_create(name={"en": "calls", "ru": "звонки"})
    assert codes(excinfo) == [("language_invalid", "name.ru")]


# --- KPIs ------------------------------------------------------------------------------------------


def test_kpi_defaults_follow_the_api_contract(in_company):
    kpi = services.kpi_create(name={"en": "Signed contracts"}, integration_name="signed_contracts")
    assert kpi.unit.is_default
    assert (kpi.kind, kpi.status, kpi.in_rating, kpi.rating_units, kpi.rating_points, kpi.level) == (
        "primary",
        "hidden",
        False,
        Decimal("1.00"),
        1,
        "company",
    )
    assert kpi.direction == "higher_is_better"


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ({"en": "Signed contracts"}, {"en": "signed CONTRACTS"}),
        ({"en": "Sales", "ru": "Продажи"}, {"en": "продажи"}),
        ({"en": "Sales", "ru": "Продажи"}, {"en": "Other", "ru": "sales"}),
    ],
)
def test_kpi_names_are_unique_across_languages_and_case(in_company, existing, new):
    make_kpi(name=existing)
    with pytest.raises(DomainError) as excinfo:
        make_kpi(name=new)
    assert excinfo.value.code == "name_taken"


def test_a_kpi_may_carry_one_name_in_both_languages(in_company):
    kpi = make_kpi(name={"en": "NPS", "ru": "NPS"})
    services.kpi_update(kpi=kpi, name={"ru": "nps"})
    assert Kpi.objects.get(id=kpi.id).name_ru == "nps"


def test_kpi_name_length_and_required(in_company):
    with pytest.raises(DomainError) as excinfo:
        make_kpi(name={"en": "", "ru": "x" * 256})
    assert sorted(codes(excinfo)) == [("name_length", "name.ru"), ("required", "name.en")]


@pytest.mark.parametrize("value", ["", "has space", "dash-name", "ünïcode", "x" * 101])
def test_integration_name_format(in_company, value):
    with pytest.raises(DomainError) as excinfo:
        make_kpi(integration_name=value or " ")
    assert excinfo.value.code in {"integration_name_invalid", "required"}
    assert excinfo.value.field == "integration_name"


def test_integration_name_unique_case_insensitively(in_company):
    make_kpi(integration_name="calls")
    with pytest.raises(DomainError) as excinfo:
        make_kpi(integration_name="CALLS")
    assert codes(excinfo) == [("integration_name_taken", "integration_name")]


@pytest.mark.parametrize("value", ["0", "-1", "1.005", "abc", "NaN", "Infinity", True, None])
def test_rating_units_positive_with_two_decimals(in_company, value):
    with pytest.raises(DomainError) as excinfo:
        make_kpi(rating_units=value)
    assert codes(excinfo) == [("rating_units_invalid", "rating_units")]


@pytest.mark.parametrize("value", [0, -3, 1.5, "1.5", "x", True, 2**31])
def test_rating_points_positive_integer(in_company, value):
    with pytest.raises(DomainError) as excinfo:
        make_kpi(rating_points=value)
    assert codes(excinfo) == [("rating_points_invalid", "rating_points")]


def test_ratio_accepts_two_decimals_and_integer_strings(in_company):
    kpi = make_kpi(in_rating=True, rating_units="2.50", rating_points="3")
    assert (kpi.rating_units, kpi.rating_points) == (Decimal("2.50"), 3)


def test_activation_needs_every_enabled_language(in_company):
    # given a KPI named in English only, in a company with en and ru
    kpi = make_kpi(name={"en": "Calls"}, description={"en": "Outbound calls"})

    # when it is made active
    with pytest.raises(DomainError) as excinfo:
        services.kpi_update(kpi=kpi, status="active")

    # then the missing fields are named per language, and nothing changed
    assert codes(excinfo) == [("incomplete", "name.ru"), ("incomplete", "description.ru")]
    assert Kpi.objects.get(id=kpi.id).status == KpiStatus.HIDDEN

    # when the Russian name and description are filled in, it can be
    services.kpi_update(
        kpi=kpi, name={"ru": "Звонки"}, description={"ru": "Исходящие звонки"}, status="active"
    )
    assert Kpi.objects.get(id=kpi.id).status == KpiStatus.ACTIVE


@pytest.mark.parametrize(
    "description",
    [
        "[x](javascript:alert(1))",
        "[x](ftp://files.example)",
        "[x](internal:kpis/999999)",
        "[x](internal:secret/1)",
    ],
)
def test_invalid_links_are_refused(in_company, description):
    with pytest.raises(DomainError) as excinfo:
        make_kpi(description={"en": description})
    assert codes(excinfo) == [("link_invalid", "description.en")]


def test_internal_link_to_another_companys_kpi_is_refused(in_company, other_company):
    from orgs.tenancy import company_context

    with company_context(other_company.id):
        foreign = make_kpi()
    with pytest.raises(DomainError) as excinfo:
        make_kpi(description={"en": f"[see](internal:kpis/{foreign.id})"})
    assert codes(excinfo) == [("link_invalid", "description.en")]


def test_every_change_is_in_the_history(in_company, admin_member):
    kpi = make_kpi(actor=admin_member)
    services.kpi_update(kpi=kpi, in_rating=True, rating_units="2", actor=admin_member)
    entries = list(Change.objects.filter(kpi=kpi).order_by("id"))
    assert [e.action for e in entries] == ["created", "changed"]
    assert entries[1].changes == {"in_rating": [False, True], "rating_units": ["1.00", "2.00"]}
    assert entries[1].actor == admin_member


# --- Targets (K9) ----------------------------------------------------------------------------------


def test_target_breaks_down_evenly_and_by_days(in_company):
    target = make_target(kpi=make_kpi(), period="quarter", start=datetime.date(2026, 1, 1), value="100")

    services.target_break_down(target=target, into="month", method="even")
    assert [p.value for p in TargetPart.objects.filter(target=target)] == [
        Decimal("33.33"),
        Decimal("33.34"),
        Decimal("33.33"),
    ]
    services.target_break_down(target=target, into="month", method="days")
    # 31 + 28 + 31 days
    assert [p.value for p in TargetPart.objects.filter(target=target)] == [
        Decimal("34.44"),
        Decimal("31.12"),
        Decimal("34.44"),
    ]


def test_manual_breakdown_must_add_up(in_company):
    target = make_target(kpi=make_kpi(), period="quarter", start=datetime.date(2026, 1, 1), value="90")
    with pytest.raises(DomainError) as excinfo:
        services.target_break_down(target=target, into="month", method="manual", values=["30", "30", "20"])
    assert codes(excinfo) == [("breakdown_mismatch", "values")]
    services.target_break_down(target=target, into="month", method="manual", values=["10", "30", "50"])
    assert sum(p.value for p in TargetPart.objects.filter(target=target)) == Decimal("90")


def test_target_start_must_open_its_period(in_company):
    with pytest.raises(DomainError) as excinfo:
        make_target(kpi=make_kpi(), period="quarter", start=datetime.date(2026, 2, 1))
    assert codes(excinfo) == [("start_invalid", "start")]


def test_target_save_creates_a_target_and_its_breakdown_in_the_history(in_company, admin_member):
    # when a target is saved with a breakdown
    target = services.target_save(
        kpi=make_kpi(),
        period="quarter",
        start=datetime.date(2026, 1, 1),
        value="90",
        into="month",
        method="even",
        actor=admin_member,
    )

    # then it is created and broken down, both in the history (K10)
    assert [p.value for p in TargetPart.objects.filter(target=target)] == [Decimal("30.00")] * 3
    changes = Change.objects.filter(object_type="target", object_id=target.pk).order_by("id")
    assert [change.action for change in changes] == ["created", "changed"]


def test_target_save_writes_nothing_when_the_breakdown_is_unchanged(in_company):
    # given a target broken down evenly
    target = make_target(kpi=make_kpi(), period="quarter", start=datetime.date(2026, 1, 1), value="90")
    services.target_break_down(target=target, into="month", method="even")
    history = Change.objects.filter(object_type="target", object_id=target.pk).count()

    # when it is saved again as it is
    services.target_save(target=target, value="90", into="month", method="even", changed=False)

    # then no history entry is added
    assert Change.objects.filter(object_type="target", object_id=target.pk).count() == history


def test_target_save_without_a_breakdown_clears_it_and_changes_the_value(in_company):
    # given a target broken down evenly
    target = make_target(kpi=make_kpi(), period="quarter", start=datetime.date(2026, 1, 1), value="90")
    services.target_break_down(target=target, into="month", method="even")

    # when it is saved with a new value and no breakdown
    target = services.target_save(target=target, value="120")

    # then the breakdown is gone and the value changed
    assert (target.value, target.breakdown_method) == (Decimal("120.00"), "")
    assert not TargetPart.objects.filter(target=target).exists()
