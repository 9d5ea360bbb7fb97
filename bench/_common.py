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


AGGREGATE_TABLES = (
    "ratings_dailytotal",
    "ratings_companydailytotal",
    "ratings_ratingtotal",
    "ratings_ratingboard",
)


def vacuum_aggregates(url: str) -> None:
    """What autovacuum does in production (the aggregate tables set a 1-2 % threshold), done here
    before reads are timed: a server with autovacuum off (this machine's is) leaves the visibility
    map stale after a run that wrote, and index-only scans then visit the rows again."""
    import time

    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
        for table in AGGREGATE_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    print(
        f"  VACUUM (ANALYZE) of the aggregates first (server autovacuum: {autovacuum}): "
        f"{time.perf_counter() - started:.1f} s"
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    position = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[position]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"
