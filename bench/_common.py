"""Shared by the ratings benchmarks: the dedicated database, Django setup, timing helpers."""

import os
import sys

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kpi_bench_ratings"
COMPANY_SLUG = "bench-ratings"
TIME_ZONE = "Europe/Moscow"  # not UTC, no DST: local days differ from UTC days, exactly


def database_url() -> str:
    """The bench database, never the dev or test one: its name must start with kpi_bench_ratings."""
    url = os.environ.get("BENCH_RATINGS_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres") or not url.rsplit("/", 1)[1].startswith("kpi_bench_ratings"):
        sys.exit(f"Refusing {url}: the ratings benchmarks use a database named kpi_bench_ratings*.")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpi_platform.settings.base")
    os.environ.setdefault("CONN_MAX_AGE", "600")
    return url


def django_setup() -> None:
    import django

    django.setup()


def bench_company():
    from orgs.models import Company

    company = Company.objects.filter(slug=COMPANY_SLUG).first()
    if company is None:
        sys.exit("No bench company: run `python -m bench.ratings_data` first.")
    return company


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    position = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[position]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"
