"""KPI test data, built through the real services (STYLE 10: setup is behaviour)."""

import itertools

from kpis import services
from kpis.models import Kpi, Target, Unit

_numbers = itertools.count(1)


def make_unit(*, name: dict | None = None, **kwargs) -> Unit:
    number = next(_numbers)
    return services.unit_create(name=name or {"en": f"unit {number}"}, **kwargs)


def make_kpi(*, name: dict | None = None, integration_name: str | None = None, **fields) -> Kpi:
    number = next(_numbers)
    return services.kpi_create(
        name=name or {"en": f"KPI {number}"},
        integration_name=integration_name or f"kpi_{number}",
        **fields,
    )


def make_active_kpi(company, **fields) -> Kpi:
    """An Active KPI named in every language ``company`` has enabled."""
    number = next(_numbers)
    name = fields.pop("name", None) or {
        language: f"KPI {number} {language}" for language in company.languages
    }
    return make_kpi(name=name, status="active", **fields)


def make_target(*, kpi: Kpi, **fields) -> Target:
    import datetime

    fields.setdefault("period", "month")
    fields.setdefault("start", datetime.date(2026, 11, 1))
    fields.setdefault("value", "100")
    return services.target_create(kpi=kpi, **fields)
