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
    "ratings_departmentdailytotal",
    "ratings_departmentmonthtotal",
    "ratings_teammonthtotal",
    "ratings_ratingtotal",
    "ratings_ratingboard",
    "ratings_periodlatest",
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


def reference_daily_upsert(conn, company_id: int, daily: dict, now) -> None:
    """The references' aggregate: one upsert of ``daily`` ({(member, kpi, day): [value, points,
    actions]}) into ratings_dailytotal, keys sorted, as the owner on ``conn`` (psycopg)."""
    keys = sorted(daily)
    conn.execute(
        """
        INSERT INTO ratings_dailytotal (company_id, member_id, kpi_id, day, value, points, actions,
            created_at, updated_at)
        SELECT %s, t.m, t.k, t.d, t.v, t.p, t.n, %s, %s
        FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::numeric[], %s::numeric[], %s::int[])
            AS t(m, k, d, v, p, n)
        ON CONFLICT (company_id, member_id, kpi_id, day) DO UPDATE SET
            value = ratings_dailytotal.value + EXCLUDED.value,
            points = ratings_dailytotal.points + EXCLUDED.points,
            actions = ratings_dailytotal.actions + EXCLUDED.actions,
            updated_at = EXCLUDED.updated_at
        """,
        [
            company_id,
            now,
            now,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [daily[k][0] for k in keys],
            [daily[k][1] for k in keys],
            [daily[k][2] for k in keys],
        ],
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    position = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[position]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"
