"""The demo company's KPI actions, a step of ``seed_demo`` (``orgs.demo``; registered in
``RatingsConfig.ready``, after the KPIs).

About five months of results up to today for the demo people: calls every working day, a few deals
and contracts a month, revenue in roubles and kopecks, tickets in Support, training hours now and
then, monthly percentages, daily CSAT scores, deals won with their amounts and weekly pipeline
reports (K11: counted, averaged, the largest and the latest; "conversion_rate" is calculated).
Each person gets only the KPIs they receive (level, hides and audience: ``kpi_list_for_member``),
with a skill of their own so that the leaderboards have a spread.

Actions are recorded through ``actions_record`` in batches, as an integration would (source "api"
or "import"), each with an external id made of its day, person and KPI
(``demo-20261102-liam.foster-calls_made``), and its values drawn from a generator seeded with that
same key: an action is the same whatever day the demo runs, so a second run records nothing (R4:
duplicates), and a run on a later day only adds the new days.
"""

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from kpis.demo import MONTHS as DEMO_MONTHS
from kpis.models import Kpi
from kpis.selectors import kpi_list_for_member
from orgs.demo import PEOPLE, Demo
from orgs.models import Member
from ratings import services
from ratings.models import ActionSource, KpiAction

MONTHS = DEMO_MONTHS  # this month and the four before it
BATCH = 2000
EXTERNAL_ID_PREFIX = "demo-"


@dataclass(frozen=True)
class Person:
    member: Member
    key: str  # the e-mail's local part, for external ids
    department: str  # its department's name, "" when in none
    team: str
    skill: float  # around 1: how much more or less than the average this person achieves


# A value for one person, KPI and day, or None when there is nothing that day: (rng, person, day).
Draw = Callable[[random.Random, Person, datetime.date], Decimal | None]


def _weekday(day: datetime.date) -> bool:
    return day.weekday() < 5


def _count(rng: random.Random, chance: float, most: int = 1) -> Decimal | None:
    """Now and then one (rarely a few) of something: deals, demos, contracts."""
    if rng.random() >= chance:
        return None
    return Decimal(1 if most == 1 or rng.random() < 0.8 else rng.randint(2, most))


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100  # roubles and kopecks


def _calls(rng, person, day):
    if not _weekday(day) and rng.random() > 0.05:
        return None
    return Decimal(max(5, round(rng.randint(20, 60) * person.skill)))


def _revenue(rng, person, day):
    if person.department != "Sales" or not _weekday(day):
        return None
    enterprise = person.team == "Enterprise Sales"
    if rng.random() >= (0.05 if enterprise else 0.10) * person.skill:
        return None
    return _money(rng, 400_000, 3_000_000) if enterprise else _money(rng, 90_000, 900_000)


def _monthly(low: float, high: float, departments: tuple[str, ...]) -> Draw:
    """A percentage once a month, on its last day."""

    def draw(rng, person, day):
        if person.department not in departments or (day + datetime.timedelta(days=1)).day != 1:
            return None
        share = min(100.0, rng.uniform(low, high) * (0.97 + 0.03 * person.skill))
        return Decimal(f"{share:.1f}")

    return draw


def _training(rng, person, day):
    if not _weekday(day) or rng.random() >= 0.06:
        return None
    return Decimal(rng.randint(2, 8)) / 2  # half hours


def _tickets(rng, person, day):
    if not _weekday(day):
        return None
    return Decimal(max(1, round(rng.randint(4, 12) * person.skill)))


def _response_time(rng, person, day):
    if day.weekday() != 4:  # the week's average, on Fridays
        return None
    return Decimal(f"{rng.uniform(1.2, 3.8) / person.skill:.2f}")


def _score(rng, person, day):
    """A day's average CSAT answer, 1 to 5, for the people who talk to customers after a sale."""
    if person.department != "Customer Success" or not _weekday(day):
        return None
    return Decimal(f"{min(5.0, rng.uniform(3.7, 4.8) * (0.96 + 0.04 * person.skill)):.2f}")


def _sales(chance: float, low: int, high: int, *, weekday: int | None = None) -> Draw:
    """A seller's amount now and then (a deal won), or on one day of the week (a pipeline report)."""

    def draw(rng, person, day):
        if person.department != "Sales" or not _weekday(day):
            return None
        if weekday is not None:
            return _money(rng, low, high) if day.weekday() == weekday else None
        return _money(rng, low, high) if rng.random() < chance * person.skill else None

    return draw


def _leads(rng, person, day):
    if person.department != "Sales" or not _weekday(day):
        return None
    leads = round(rng.randint(0, 5) * person.skill)
    return Decimal(leads) if leads else None


def _sometimes(chance: float, most: int = 1, weekdays: bool = True) -> Draw:
    def draw(rng, person, day):
        if weekdays and not _weekday(day):
            return None
        return _count(rng, chance * person.skill, most)

    return draw


# By integration name: how often and how much. A KPI someone added to the demo gets no actions.
DRAWS: dict[str, tuple[Draw, str]] = {
    "revenue": (_revenue, ActionSource.IMPORT),
    "csat": (_score, ActionSource.IMPORT),
    "training_hours": (_training, ActionSource.IMPORT),
    "contracts_signed": (_sometimes(0.07), ActionSource.API),
    "new_deals": (_sometimes(0.30, most=3), ActionSource.API),
    "calls_made": (_calls, ActionSource.API),
    "product_demos": (_sometimes(0.15, most=2), ActionSource.API),
    "key_account_renewals": (_sometimes(0.03), ActionSource.API),
    "executive_meetings": (_sometimes(0.12), ActionSource.API),
    "trial_conversion": (_monthly(12, 28, ("Sales",)), ActionSource.IMPORT),
    "referral_leads": (_sometimes(0.05, most=2), ActionSource.API),
    "customer_retention": (_monthly(88, 99, ("Customer Success",)), ActionSource.IMPORT),
    "customers_onboarded": (_sometimes(0.12), ActionSource.API),
    "tickets_resolved": (_tickets, ActionSource.API),
    "first_response_time": (_response_time, ActionSource.API),
    "leads": (_leads, ActionSource.API),
    "deals_closed": (_sales(0.12, 90_000, 3_000_000), ActionSource.API),
    "largest_deal": (_sales(0.12, 90_000, 3_000_000), ActionSource.API),
    "open_pipeline": (_sales(0, 5_000_000, 25_000_000, weekday=0), ActionSource.IMPORT),
}


def demo_actions(demo: Demo) -> None:
    tz = demo.company.zone
    now = timezone.now()
    today = now.astimezone(tz).date()
    first = _months_before(today.replace(day=1), MONTHS - 1)
    days = [first + datetime.timedelta(days=n) for n in range((today - first).days + 1)]
    people = _people(demo)
    recorded = set(
        KpiAction.objects.filter(external_id__startswith=EXTERNAL_ID_PREFIX).values_list(
            "external_id", flat=True
        )
    )
    batches: dict[str, list[dict]] = {ActionSource.API: [], ActionSource.IMPORT: []}
    for person in people:
        for kpi in _kpis_of(person.member):
            draw, source = DRAWS[kpi.integration_name]
            for day in days:
                external_id = f"{EXTERNAL_ID_PREFIX}{day:%Y%m%d}-{person.key}-{kpi.integration_name}"
                if external_id in recorded:
                    continue
                rng = random.Random(external_id)
                value = draw(rng, person, day)
                if value is None:
                    continue
                local = datetime.datetime.combine(
                    day, datetime.time(rng.randint(9, 18), rng.randint(0, 59)), tz
                )
                if local > now:
                    continue  # later today: a run after it will add it
                batches[source].append(
                    {
                        "kpi": kpi,
                        "user": person.member,
                        "value": value,
                        "occurred_at": local,
                        "external_id": external_id,
                    }
                )
    for source, items in batches.items():
        for start in range(0, len(items), BATCH):
            result = services.actions_record(items=items[start : start + BATCH], source=source, now=now)
            demo.created["KPI actions"] += result.created


def _months_before(month_start: datetime.date, months: int) -> datetime.date:
    index = month_start.year * 12 + month_start.month - 1 - months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _people(demo: Demo) -> list[Person]:
    """The demo's people still in the company and active. Every skill is drawn on every run, in
    the same order, so it never depends on who exists."""
    departments = {department.id: name for name, department in demo.departments.items()}
    teams = {team.id: name for name, team in demo.teams.items()}
    current = {
        member.user_id: member
        for member in Member.objects.filter(user__is_active=True).select_related("user", "team")
    }
    people = []
    for spec in PEOPLE:
        skill = demo.rng.uniform(0.6, 1.45)
        member = current.get(getattr(demo.members.get(spec.address), "user_id", None))
        if member is None:
            continue
        department_id = member.department_id or (member.team.department_id if member.team else None)
        people.append(
            Person(
                member=member,
                key=spec.address.split("@")[0],
                department=departments.get(department_id, ""),
                team=teams.get(member.team_id, ""),
                skill=skill,
            )
        )
    return people


def _kpis_of(member: Member) -> list[Kpi]:
    """The Active KPIs the person receives (K5, K6, K8) that the demo knows how to fill."""
    return [kpi for kpi in kpi_list_for_member(member) if kpi.integration_name in DRAWS]
