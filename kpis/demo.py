"""The demo company's KPIs, a step of ``seed_demo`` (``orgs.demo``; registered in ``KpisConfig.ready``).

Units, KPIs named and described in English and Russian at company, department and team level, the
hides of some inherited ones (K6), one KPI for chosen people (K8), and targets for the current month,
quarter and year (K9). Like the other steps it finds what exists (units by any of their names, KPIs
by integration name, targets by KPI, period and holder), creates only what is missing through the
services, and draws variety from ``demo.rng`` whether or not it creates, so a second run changes
nothing. Hides and the audience are set when a KPI is created: a demo someone has changed since
keeps their changes.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from kpi_platform.periods import period_start
from kpis import services
from kpis.models import (
    Aggregation,
    BreakdownMethod,
    BreakdownPeriod,
    Category,
    Direction,
    Kpi,
    KpiKind,
    KpiStatus,
    Level,
    Measure,
    Perspective,
    Target,
    TargetPeriod,
    TargetScope,
    Timing,
    Unit,
    UnitName,
)
from kpis.selectors import period_starts
from kpis.services import Audience, breakdown_slots
from orgs.demo import ADMIN_EMAIL, EMAIL_DOMAIN, LEAD_EMAIL, MANAGER_EMAIL, MEMBER_EMAIL, PEOPLE, Demo
from orgs.models import Department, Member, Team

# (English, Russian, decimals shown); the default "points" unit exists already. Things counted one
# by one show no decimals; money, hours, percentages and scores show theirs (issue 18).
UNITS = (
    ("calls", "звонки", 0),
    ("contracts", "договоры", 0),
    ("deals", "сделки", 0),
    ("RUB", "руб.", 2),
    ("hours", "часы", 1),
    ("tickets", "обращения", 0),
    ("%", "%", 2),
    ("leads", "лиды", 0),
    ("meetings", "встречи", 0),
    ("customers", "клиенты", 0),
    ("score", "оценка", 2),
)


def _email(first: str, last: str) -> str:
    return f"{first}.{last}@{EMAIL_DOMAIN}".lower()


@dataclass(frozen=True)
class DemoKpi:
    """One KPI of the demo. ``description`` may link another KPI as ``internal:kpis/{key}``, where
    ``{key}`` (an integration name of a KPI listed before it) becomes that KPI's id."""

    key: str  # the integration field name
    name: tuple[str, str]  # English, Russian ("" for a draft that is not translated yet)
    description: tuple[str, str]
    unit: str  # the English name of one of UNITS, or "points"
    kind: str = KpiKind.PRIMARY
    level: str = Level.COMPANY
    unit_of: str = ""  # the department's or team's name for a department or team KPI
    status: str = KpiStatus.ACTIVE
    ratio: tuple[str, int] | None = None  # in the rating: N units of measurement = M points
    direction: str = Direction.HIGHER_IS_BETTER
    owner: str = ""  # an e-mail
    category: str = ""
    timing: str = ""
    measure: str = Measure.QUANTITATIVE
    perspective: str = ""
    hidden_for: tuple[str, ...] = ()  # names of departments or teams that hide it (K6)
    audience: tuple[str, ...] = ()  # e-mails: the KPI reaches only them (K8)
    aggregation: str = Aggregation.SUM  # how its values combine (K11)
    formula: str = ""  # a calculated KPI (K11)


KPIS = (
    # --- Company -----------------------------------------------------------------------------------
    DemoKpi(
        "revenue",
        ("Revenue", "Выручка"),
        (
            "Paid invoices, net of VAT, counted on the day the money arrives. The company's main result: "
            "every department contributes to it.\n"
            "How revenue is recognised: [finance handbook](https://wiki.demo.example/finance/revenue).",
            "Оплаченные счета без НДС, по дате поступления денег. Главный результат компании: "
            "в него вносит вклад каждый отдел.\n"
            "Как признаётся выручка: [финансовый регламент](https://wiki.demo.example/finance/revenue).",
        ),
        "RUB",
        ratio=("1000", 1),
        owner=ADMIN_EMAIL,
        category=Category.STRATEGIC,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "csat",
        ("Customer satisfaction (CSAT)", "Удовлетворённость клиентов (CSAT)"),
        (
            "The average answer, from 1 to 5, to “How satisfied are you?” in the survey sent after "
            "every closed ticket, onboarding and signed contract: the mean of all answers, not of "
            "people's means. [What CSAT measures](https://en.wikipedia.org/wiki/Customer_satisfaction).",
            "Средняя оценка от 1 до 5 на вопрос «Насколько вы довольны?» в опросе, который клиент "
            "получает после закрытого обращения, подключения и подписания договора: среднее всех "
            "ответов, а не средних по сотрудникам. [Что измеряет CSAT](https://ru.wikipedia.org/wiki/CSAT).",
        ),
        "score",
        aggregation=Aggregation.AVERAGE,
        owner=_email("Sophia", "Turner"),
        category=Category.STRATEGIC,
        timing=Timing.LAGGING,
        perspective=Perspective.CUSTOMER,
    ),
    DemoKpi(
        "training_hours",
        ("Training hours", "Часы обучения"),
        (
            "Hours of courses, workshops and mentoring sessions completed. Pick a course in the "
            "[training catalogue](https://learn.demo.example/catalogue); your lead confirms the hours.",
            "Часы пройденных курсов, практикумов и занятий с наставником. Курс можно выбрать в "
            "[каталоге обучения](https://learn.demo.example/catalogue); часы подтверждает руководитель.",
        ),
        "hours",
        kind=KpiKind.SECONDARY,
        ratio=("0.5", 1),
        owner=_email("Charlotte", "Hughes"),
        category=Category.FUNCTIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.LEARNING_AND_GROWTH,
    ),
    DemoKpi(
        "employee_nps",
        ("Employee NPS (eNPS)", "Индекс лояльности сотрудников (eNPS)"),
        (
            "Promoters minus detractors in the quarterly anonymous survey. Not launched yet: the first "
            "survey goes out next quarter.",
            "Доля промоутеров минус доля критиков в ежеквартальном анонимном опросе. Ещё не запущен: "
            "первый опрос пройдёт в следующем квартале.",
        ),
        "points",
        status=KpiStatus.HIDDEN,
        owner=ADMIN_EMAIL,
        category=Category.STRATEGIC,
        timing=Timing.LEADING,
        perspective=Perspective.LEARNING_AND_GROWTH,
    ),
    # --- Sales -------------------------------------------------------------------------------------
    DemoKpi(
        "contracts_signed",
        ("Contracts signed", "Подписанные договоры"),
        (
            "Contracts signed by both sides, counted on the date of the client's signature. "
            "Their money shows in [Revenue](internal:kpis/{revenue}) once the first invoice is paid.",
            "Договоры, подписанные обеими сторонами, по дате подписи клиента. "
            "Деньги по ним попадают в [Выручку](internal:kpis/{revenue}) после оплаты первого счёта.",
        ),
        "contracts",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        ratio=("1", 10),
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "new_deals",
        ("New deals in the pipeline", "Новые сделки в воронке"),
        (
            "Deals moved to the “Qualified” stage in the CRM: a budget, a decision maker and a date. "
            "About one in four becomes one of the [Contracts signed](internal:kpis/{contracts_signed}).",
            "Сделки, переведённые в CRM на этап «Квалифицирована»: есть бюджет, лицо, принимающее "
            "решение, и срок. Примерно каждая четвёртая становится "
            "[подписанным договором](internal:kpis/{contracts_signed}).",
        ),
        "deals",
        kind=KpiKind.SECONDARY,
        level=Level.DEPARTMENT,
        unit_of="Sales",
        ratio=("1", 2),
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.INTERNAL_PROCESS,
    ),
    DemoKpi(
        "calls_made",
        ("Calls made", "Совершённые звонки"),
        (
            "Calls to clients and prospects logged in the CRM that lasted at least a minute. Calls "
            "feed [New deals in the pipeline](internal:kpis/{new_deals}). "
            "Before you dial: [call script](https://wiki.demo.example/sales/call-script).",
            "Звонки клиентам и потенциальным клиентам длительностью от минуты, записанные в CRM. "
            "Из звонков появляются [новые сделки в воронке](internal:kpis/{new_deals}). "
            "Перед звонком: [скрипт разговора](https://wiki.demo.example/sales/call-script).",
        ),
        "calls",
        kind=KpiKind.SECONDARY,
        level=Level.DEPARTMENT,
        unit_of="Sales",
        ratio=("5", 1),
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.INTERNAL_PROCESS,
    ),
    DemoKpi(
        "product_demos",
        ("Product demos held", "Проведённые демонстрации"),
        (
            "Live demos of the product for a prospect's team, online or on site. Mid-Market clients "
            "start with a self-serve trial instead, so that team hides this KPI.",
            "Демонстрации продукта команде потенциального клиента, онлайн или на месте. Клиенты "
            "Mid-Market начинают с самостоятельной пробной версии, поэтому эта команда скрывает KPI.",
        ),
        "meetings",
        kind=KpiKind.SECONDARY,
        level=Level.DEPARTMENT,
        unit_of="Sales",
        ratio=("1", 3),
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.CUSTOMER,
        hidden_for=("Mid-Market Sales",),
    ),
    DemoKpi(
        "key_account_renewals",
        ("Key account renewals", "Продления ключевых клиентов"),
        (
            "Renewal contracts of the twenty largest accounts, signed before the old contract ends. "
            "Only the account owners receive this KPI.",
            "Договоры продления двадцати крупнейших клиентов, подписанные до окончания старого "
            "договора. KPI получают только ответственные за этих клиентов.",
        ),
        "contracts",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        ratio=("1", 15),
        owner=MANAGER_EMAIL,
        category=Category.STRATEGIC,
        timing=Timing.LAGGING,
        perspective=Perspective.CUSTOMER,
        audience=(LEAD_EMAIL, MEMBER_EMAIL, _email("Benjamin", "Hayes"), _email("Harper", "Lewis")),
    ),
    DemoKpi(
        "upsell_revenue",
        ("Upsell revenue", ""),
        ("Revenue from extra licences and modules sold to existing clients. Draft: terms under review.", ""),
        "RUB",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        status=KpiStatus.HIDDEN,
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "executive_meetings",
        ("Executive meetings", "Встречи с руководством клиентов"),
        (
            "Meetings with a client's C-level or board, with notes in the CRM within a day. "
            "Enterprise deals are won there: see [Contracts signed](internal:kpis/{contracts_signed}).",
            "Встречи с первыми лицами или советом директоров клиента, с заметками в CRM в течение "
            "дня. Там выигрываются крупные сделки: см. "
            "[Подписанные договоры](internal:kpis/{contracts_signed}).",
        ),
        "meetings",
        kind=KpiKind.SECONDARY,
        level=Level.TEAM,
        unit_of="Enterprise Sales",
        ratio=("1", 5),
        owner=LEAD_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.CUSTOMER,
    ),
    DemoKpi(
        "trial_conversion",
        ("Trial-to-paid conversion", "Конверсия пробных версий в оплату"),
        (
            "Share of 14-day trials that turn into a paid subscription within 30 days of the start.",
            "Доля 14-дневных пробных версий, перешедших в платную подписку в течение 30 дней от начала.",
        ),
        "%",
        level=Level.TEAM,
        unit_of="Mid-Market Sales",
        aggregation=Aggregation.AVERAGE,
        owner=_email("Noah", "Parker"),
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "leads",
        ("Qualified leads", "Квалифицированные лиды"),
        (
            "Inbound requests and prospects a seller qualified in the CRM that day.",
            "Входящие заявки и потенциальные клиенты, которых продавец квалифицировал в CRM за день.",
        ),
        "leads",
        kind=KpiKind.SECONDARY,
        level=Level.DEPARTMENT,
        unit_of="Sales",
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.CUSTOMER,
    ),
    DemoKpi(
        "deals_closed",
        ("Deals closed", "Закрытые сделки"),
        (
            "Deals moved to “Won” in the CRM: one action per deal, with its amount as the value. "
            "The figure is how many.",
            "Сделки, переведённые в CRM на этап «Выиграна»: одно действие на сделку, сумма в значении. "
            "Показатель — их количество.",
        ),
        "deals",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        aggregation=Aggregation.COUNT,
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "largest_deal",
        ("Largest deal", "Крупнейшая сделка"),
        (
            "The biggest amount of a deal won in the period: the record to beat.",
            "Самая крупная сумма выигранной сделки за период: рекорд, который стоит побить.",
        ),
        "RUB",
        kind=KpiKind.SECONDARY,
        level=Level.DEPARTMENT,
        unit_of="Sales",
        aggregation=Aggregation.MAX,
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "open_pipeline",
        ("Open pipeline", "Открытая воронка"),
        (
            "The amount of a seller's open deals as the CRM reports it every Monday: a level, not a "
            "flow. A team's figure is the sum of its sellers' latest reports.",
            "Сумма открытых сделок продавца по отчёту CRM каждый понедельник: уровень, а не поток. "
            "Показатель команды — сумма последних отчётов её продавцов.",
        ),
        "RUB",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        aggregation=Aggregation.LAST,
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.FINANCIAL,
    ),
    DemoKpi(
        "conversion_rate",
        ("Lead conversion", "Конверсия лидов"),
        (
            "Deals closed per hundred qualified leads of the same people and period: "
            "[Deals closed](internal:kpis/{deals_closed}) / [Qualified leads](internal:kpis/{leads}) × 100.",
            "Закрытые сделки на сотню квалифицированных лидов тех же людей за тот же период: "
            "[закрытые сделки](internal:kpis/{deals_closed}) / [лиды](internal:kpis/{leads}) × 100.",
        ),
        "%",
        level=Level.DEPARTMENT,
        unit_of="Sales",
        formula="deals_closed / leads * 100",
        owner=MANAGER_EMAIL,
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.CUSTOMER,
    ),
    # --- Customer Success ---------------------------------------------------------------------------
    DemoKpi(
        "referral_leads",
        ("Referral leads", "Лиды по рекомендациям"),
        (
            "Clients' colleagues and partners you pass to Sales as a lead with a contact and a need. "
            "Sales counts them as [New deals in the pipeline](internal:kpis/{new_deals}) instead, so "
            "the Sales department hides this KPI.",
            "Коллеги и партнёры клиентов, которых вы передаёте в продажи как лид с контактом и "
            "потребностью. Продажи учитывают их как [новые сделки в воронке](internal:kpis/{new_deals}), "
            "поэтому отдел продаж скрывает этот KPI.",
        ),
        "leads",
        kind=KpiKind.SECONDARY,
        ratio=("1", 2),
        owner=_email("Sophia", "Turner"),
        category=Category.FUNCTIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.CUSTOMER,
        hidden_for=("Sales",),
    ),
    DemoKpi(
        "customer_retention",
        ("Customer retention", "Удержание клиентов"),
        (
            "Share of the clients at the start of the period who still pay at its end. Follows "
            "[Customer satisfaction (CSAT)](internal:kpis/{csat}) with a lag of a quarter or two.",
            "Доля клиентов на начало периода, которые всё ещё платят на его конец. Следует за "
            "[удовлетворённостью клиентов (CSAT)](internal:kpis/{csat}) с отставанием на квартал-два.",
        ),
        "%",
        level=Level.DEPARTMENT,
        unit_of="Customer Success",
        aggregation=Aggregation.AVERAGE,
        owner=_email("Sophia", "Turner"),
        category=Category.STRATEGIC,
        timing=Timing.LAGGING,
        perspective=Perspective.CUSTOMER,
    ),
    DemoKpi(
        "customers_onboarded",
        ("Customers onboarded", "Подключённые клиенты"),
        (
            "New clients whose first users signed in and finished the setup checklist. "
            "[Onboarding checklist](https://wiki.demo.example/cs/onboarding).",
            "Новые клиенты, чьи первые пользователи вошли в систему и прошли чек-лист настройки. "
            "[Чек-лист подключения](https://wiki.demo.example/cs/onboarding).",
        ),
        "customers",
        level=Level.TEAM,
        unit_of="Onboarding",
        ratio=("1", 5),
        owner=_email("Ava", "Mitchell"),
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.INTERNAL_PROCESS,
    ),
    DemoKpi(
        "tickets_resolved",
        ("Tickets resolved", "Решённые обращения"),
        (
            "Helpdesk tickets closed as solved and not reopened within 7 days.",
            "Обращения в службу поддержки, закрытые как решённые и не открытые повторно в течение 7 дней.",
        ),
        "tickets",
        level=Level.TEAM,
        unit_of="Support",
        ratio=("2", 1),
        owner=_email("Mason", "Reed"),
        category=Category.OPERATIONAL,
        timing=Timing.LAGGING,
        perspective=Perspective.INTERNAL_PROCESS,
    ),
    DemoKpi(
        "first_response_time",
        ("Average first response time", "Среднее время первого ответа"),
        (
            "Working hours from a new ticket to the first answer of a person (auto-replies do not "
            "count). Lower is better; it drives [Customer satisfaction (CSAT)](internal:kpis/{csat}).",
            "Рабочие часы от нового обращения до первого ответа сотрудника (автоответы не в счёт). "
            "Чем меньше, тем лучше; от него зависит "
            "[удовлетворённость клиентов (CSAT)](internal:kpis/{csat}).",
        ),
        "hours",
        kind=KpiKind.SECONDARY,
        level=Level.TEAM,
        unit_of="Support",
        direction=Direction.LOWER_IS_BETTER,
        aggregation=Aggregation.AVERAGE,
        owner=_email("Dmitry", "Sokolov"),
        category=Category.OPERATIONAL,
        timing=Timing.LEADING,
        perspective=Perspective.CUSTOMER,
    ),
)


# --- The step --------------------------------------------------------------------------------------


def demo_kpis(demo: Demo) -> None:
    units = {english: _unit(demo, english, russian, decimals) for english, russian, decimals in UNITS}
    units["points"] = services.default_unit()
    kpis: dict[str, Kpi] = {}
    for spec in KPIS:
        kpis[spec.key] = _kpi(demo, spec, units, kpis)
    _targets(demo, kpis)


def _unit(demo: Demo, english: str, russian: str, decimals: int) -> Unit:
    """The unit that carries either name already, or a new one."""
    found = (
        UnitName.objects.filter(key__in={services.name_key(english), services.name_key(russian)})
        .select_related("unit")
        .first()
    )
    if found is not None:
        return found.unit
    demo.created["units"] += 1
    return services.unit_create(name={"en": english, "ru": russian}, decimals=decimals)


def _holder(demo: Demo, name: str) -> Department | Team:
    return demo.departments.get(name) or demo.teams[name]


def _kpi(demo: Demo, spec: DemoKpi, units: dict[str, Unit], earlier: dict[str, Kpi]) -> Kpi:
    existing = Kpi.objects.filter(integration_name__iexact=spec.key).first()
    if existing is not None:
        return existing
    ids = {key: kpi.id for key, kpi in earlier.items()}
    english, russian = (text.format(**ids) for text in spec.description)
    fields = {
        "name": {"en": spec.name[0], "ru": spec.name[1]},
        "description": {"en": english, "ru": russian},
        "integration_name": spec.key,
        "unit": units[spec.unit],
        "kind": spec.kind,
        "status": spec.status,
        "level": spec.level,
        "direction": spec.direction,
        "owner": demo.members.get(spec.owner),
        "category": spec.category,
        "timing": spec.timing,
        "measure": spec.measure,
        "perspective": spec.perspective,
        "aggregation": spec.aggregation,
        "formula": spec.formula,
    }
    if spec.ratio is not None:
        fields.update(in_rating=True, rating_units=spec.ratio[0], rating_points=spec.ratio[1])
    if spec.level == Level.DEPARTMENT:
        fields["department"] = demo.departments[spec.unit_of]
    elif spec.level == Level.TEAM:
        fields["team"] = demo.teams[spec.unit_of]
    audience = None
    if spec.audience:
        # Only people still in the KPI's department: someone may have moved them since.
        department_id = fields["department"].id
        people = [demo.members[email] for email in spec.audience]
        audience = Audience(members=[member for member in people if member.department_id == department_id])
    kpi = services.kpi_create(audience=audience, **fields)
    demo.created["KPIs"] += 1
    for name in spec.hidden_for:
        holder = _holder(demo, name)
        if isinstance(holder, Department):
            services.kpi_hide(kpi=kpi, department=holder)
        else:
            services.kpi_hide(kpi=kpi, team=holder)
        demo.created["hidden inherited KPIs"] += 1
    return kpi


# --- Targets (K9) ----------------------------------------------------------------------------------

# This month and the four before it: the months the demo's actions cover (``ratings.demo``).
MONTHS = 5


def _team_people(demo: Demo, team: str) -> list[Member]:
    return [demo.members[person.address] for person in PEOPLE if person.team == team]


def _round_step(value: Decimal) -> Decimal:
    """The round unit a target of ``value`` is split in: 1,000,000 for 35,000,000, 10 for 140,
    1 for 30."""
    step = Decimal(10) ** max(0, len(str(int(value))) - 2)
    while step > 1 and value % step:
        step /= 10
    return step


def round_parts(value: Decimal, weights: list[int]) -> list[Decimal]:
    """``value`` split by ``weights`` into round parts that add up to it exactly (largest
    remainders, in steps of ``_round_step``): a month's 35,000,000 into its weeks by their days
    is 7,000,000 for a full week, never 7,903,225.81."""
    step = _round_step(value)
    units, total = int(value / step), sum(weights)
    exact = [Fraction(units * weight, total) for weight in weights]
    parts = [int(share) for share in exact]
    by_remainder = sorted(range(len(parts)), key=lambda index: exact[index] - parts[index], reverse=True)
    for index in by_remainder[: units - sum(parts)]:
        parts[index] += 1
    return [Decimal(part) * step for part in parts]


def _months_back(month: datetime.date, count: int) -> datetime.date:
    for _ in range(count):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
    return month


class _Targets:
    """Finds or creates the targets of one run. Every figure a dashboard shows by default gets a
    round target (issue 18): each month of the demo's data, and the quarters and years they fall
    in; a quantity (K11 ``sum``, ``count``) is split into its weeks by hand in round parts, so a
    week's share is round too, and a quarter is the sum of its months."""

    def __init__(self, demo: Demo):
        self.demo = demo
        today = demo.company.today()
        self.starts = period_starts(today)
        this_month = self.starts[TargetPeriod.MONTH]
        self.months = [_months_back(this_month, back) for back in range(MONTHS - 1, -1, -1)]

    def set(
        self,
        kpi: Kpi,
        period: str,
        value: int | str | Decimal,
        *,
        holder: Department | Team | Member | None = None,
        breakdown: tuple[str, str] | None = None,
        start: datetime.date | None = None,
        parts: list[Decimal] | None = None,
    ) -> None:
        """One target (of the current period unless ``start``), broken down by ``breakdown`` or
        into weeks by hand (``parts``) when it is created."""
        if kpi.archived_at is not None:  # its unit was deleted since: nothing to aim at
            return
        scope, holders = TargetScope.COMPANY, {}
        if isinstance(holder, Department):
            scope, holders = TargetScope.DEPARTMENT, {"department": holder}
        elif isinstance(holder, Team):
            scope, holders = TargetScope.TEAM, {"team": holder}
        elif isinstance(holder, Member):
            scope, holders = TargetScope.USER, {"member": holder}
        start = start or self.starts[period]
        lookup = {"department": None, "team": None, "member": None, **holders}
        if Target.objects.filter(kpi=kpi, period=period, start=start, scope=scope, **lookup).exists():
            return
        target = services.target_create(
            kpi=kpi, period=period, start=start, value=Decimal(value), scope=scope, **holders
        )
        self.demo.created["targets"] += 1
        if breakdown is not None:
            into, method = breakdown
            services.target_break_down(target=target, into=into, method=method)
        elif parts is not None:
            services.target_break_down(
                target=target, into=BreakdownPeriod.WEEK, method=BreakdownMethod.MANUAL, values=parts
            )

    def _month_weeks(self, month: datetime.date, value: Decimal) -> list[tuple[datetime.date, Decimal]]:
        """A month's weeks (cut at its ends) by their first day, with their round parts of ``value``."""
        slots = breakdown_slots(TargetPeriod.MONTH, month, BreakdownPeriod.WEEK)
        parts = round_parts(value, [(last - first).days + 1 for first, last in slots])
        return [(first, part) for (first, _last), part in zip(slots, parts, strict=True)]

    def monthly(
        self,
        kpi: Kpi,
        value: int | str,
        *,
        holder: Department | Team | Member | None = None,
        longer: bool = True,
    ) -> None:
        """``value`` a month for every month of the demo's data and the quarters and years they
        fall in (three and twelve times it for a quantity, the same level for the others, K11), or
        without ``longer`` for this month only (a person's)."""
        value = Decimal(value)
        quantity = not kpi.is_level
        for month in self.months if longer else self.months[-1:]:
            parts = [part for _first, part in self._month_weeks(month, value)] if quantity else None
            self.set(kpi, TargetPeriod.MONTH, value, holder=holder, start=month, parts=parts)
        if not longer:
            return
        for quarter in sorted({period_start(TargetPeriod.QUARTER, month) for month in self.months}):
            parts = None
            if quantity:
                weeks = [
                    week
                    for month, _end in breakdown_slots(TargetPeriod.QUARTER, quarter, BreakdownPeriod.MONTH)
                    for week in self._month_weeks(month, value)
                ]
                slots = breakdown_slots(TargetPeriod.QUARTER, quarter, BreakdownPeriod.WEEK)
                parts = [
                    sum((part for begin, part in weeks if first <= begin <= last), Decimal(0))
                    for first, last in slots
                ]
            self.set(
                kpi,
                TargetPeriod.QUARTER,
                value * 3 if quantity else value,
                holder=holder,
                start=quarter,
                parts=parts,
            )
        for year in sorted({period_start(TargetPeriod.YEAR, month) for month in self.months}):
            self.set(kpi, TargetPeriod.YEAR, value * 12 if quantity else value, holder=holder, start=year)


# A month's target per KPI (K11: a quantity or a level) for its own unit and the units below it
# whose people record it, near what the demo's people achieve (``ratings.demo``): some on track,
# some behind. Keys: the company (None), then departments' and teams' names. Above a department's or
# a team's KPI its unit's target is the company's (``ratings.dashboards.holder_targets``).
MONTHLY = {
    "revenue": {
        None: 35_000_000,
        "Sales": 35_000_000,
        "Enterprise Sales": 24_000_000,
        "Mid-Market Sales": 11_000_000,
    },
    "csat": {None: "4.5", "Customer Success": "4.5", "Onboarding": "4.5", "Support": "4.5"},
    "training_hours": {
        None: 140,
        "Sales": 50,
        "Enterprise Sales": 25,
        "Mid-Market Sales": 25,
        "Customer Success": 90,
        "Onboarding": 40,
        "Support": 45,
    },
    "referral_leads": {None: 30, "Customer Success": 30, "Onboarding": 15, "Support": 15},
    "contracts_signed": {"Sales": 30, "Enterprise Sales": 15, "Mid-Market Sales": 15},
    "new_deals": {"Sales": 160, "Enterprise Sales": 80, "Mid-Market Sales": 80},
    "calls_made": {"Sales": 17_000, "Enterprise Sales": 8_500, "Mid-Market Sales": 8_500},
    "product_demos": {"Sales": 30, "Enterprise Sales": 30},
    "key_account_renewals": {"Sales": 3, "Enterprise Sales": 3},
    "leads": {"Sales": 1_000, "Enterprise Sales": 500, "Mid-Market Sales": 500},
    "deals_closed": {"Sales": 50, "Enterprise Sales": 25, "Mid-Market Sales": 25},
    "largest_deal": {"Sales": 3_000_000, "Enterprise Sales": 3_000_000, "Mid-Market Sales": 2_500_000},
    "open_pipeline": {"Sales": 300_000_000, "Enterprise Sales": 150_000_000, "Mid-Market Sales": 150_000_000},
    "conversion_rate": {"Sales": 5, "Enterprise Sales": 5, "Mid-Market Sales": 5},
    "executive_meetings": {"Enterprise Sales": 20},
    "trial_conversion": {"Mid-Market Sales": 20},
    "customer_retention": {"Customer Success": 95, "Onboarding": 95, "Support": 95},
    "customers_onboarded": {"Onboarding": 20},
    "tickets_resolved": {"Support": 1_900},
    "first_response_time": {"Support": 4},
}


def _targets(demo: Demo, kpis: dict[str, Kpi]) -> None:
    rng, targets = demo.rng, _Targets(demo)
    for key, values in MONTHLY.items():
        for unit, value in values.items():
            targets.monthly(kpis[key], value, holder=None if unit is None else _holder(demo, unit))
    # Every draw happens on every run, in the same order, so the values never depend on what exists.
    # Per person (revenue, contracts, calls) a month, adding up to about their team's target:
    # enterprise sellers close fewer, bigger deals after fewer, longer calls.
    sellers = {
        member: (rng.randint(20, 32) * 100_000, rng.randint(1, 2), rng.randint(70, 90) * 10)
        for member in _team_people(demo, "Enterprise Sales")
    } | {
        member: (rng.randint(12, 20) * 100_000, rng.randint(2, 3), rng.randint(100, 120) * 10)
        for member in _team_people(demo, "Mid-Market Sales")
    }
    agents = {member: rng.randint(17, 23) * 10 for member in _team_people(demo, "Support")}
    onboarders = {member: rng.randint(2, 4) for member in _team_people(demo, "Onboarding")}
    for member, (money, signed, calls) in sellers.items():
        targets.monthly(kpis["revenue"], money, holder=member, longer=False)
        targets.monthly(kpis["contracts_signed"], signed, holder=member, longer=False)
        targets.monthly(kpis["calls_made"], calls, holder=member, longer=False)
    for member, resolved in agents.items():
        targets.monthly(kpis["tickets_resolved"], resolved, holder=member, longer=False)
    for member, onboarded in onboarders.items():
        targets.monthly(kpis["customers_onboarded"], onboarded, holder=member, longer=False)
    member = demo.members[MEMBER_EMAIL]
    targets.monthly(kpis["executive_meetings"], 4, holder=member, longer=False)
    targets.set(kpis["key_account_renewals"], TargetPeriod.QUARTER, 3, holder=member)
    targets.set(kpis["training_hours"], TargetPeriod.YEAR, 40, holder=member)
