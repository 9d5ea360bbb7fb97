"""A prototype of a faster aggregates_rebuild (ratings/services.py is not changed here).

    .venv/bin/python -m bench.ratings_rebuild_proto [--work-mem 256MB]

In one transaction that is rolled back (the bench data keeps its aggregates), as the app role in
the company's context, with foreign keys checked immediately (so their cost is counted, as it is
at commit in the service):
  1. copies the current aggregates aside (untimed);
  2. times (a) with ``--service``: ratings.services.aggregates_rebuild(), or (b) the prototype:
     deleting the aggregates (as the service does); ``SET LOCAL work_mem``; the daily totals
     inserted in index order; the
     rating totals from one pass over the counting daily totals grouped by (member, week) and
     (member, month) with GROUPING SETS, then quarter, year and all rolled up from the months,
     instead of a 5x CROSS JOIN grouped in one hash aggregate;
  3. checks that the result equals the aggregates it replaced (EXCEPT both ways).
"""

import argparse
import time

from bench._common import bench_company, database_url, django_setup

DAILY = """
INSERT INTO ratings_dailytotal (company_id, member_id, kpi_id, day, value, points, actions,
    created_at, updated_at)
SELECT company_id, member_id, kpi_id, day, SUM(value), SUM(points), COUNT(*), now(), now()
FROM ratings_kpiaction
WHERE company_id = %(c)s AND voided_at IS NULL
GROUP BY company_id, member_id, kpi_id, day
ORDER BY company_id, member_id, kpi_id, day
"""
RATING = """
WITH counting AS (
    SELECT id FROM kpis_kpi
    WHERE company_id = %(c)s AND status = 'active' AND in_rating AND archived_at IS NULL
), sets AS MATERIALIZED (
    SELECT d.member_id, date_trunc('week', d.day)::date AS week, date_trunc('month', d.day)::date AS month,
        SUM(d.points) AS points
    FROM ratings_dailytotal d
    WHERE d.company_id = %(c)s AND d.kpi_id IN (SELECT id FROM counting)
    GROUP BY GROUPING SETS ((d.member_id, date_trunc('week', d.day)),
                            (d.member_id, date_trunc('month', d.day)))
), months AS (
    SELECT member_id, month, points FROM sets WHERE month IS NOT NULL
)
INSERT INTO ratings_ratingtotal (company_id, period, start, member_id, points, created_at, updated_at)
SELECT %(c)s, period, start, member_id, points, now(), now() FROM (
    SELECT 'week' AS period, week AS start, member_id, points FROM sets WHERE week IS NOT NULL
    UNION ALL SELECT 'month', month, member_id, points FROM months
    UNION ALL SELECT 'quarter', date_trunc('quarter', month)::date, member_id, SUM(points)
        FROM months GROUP BY 2, 3
    UNION ALL SELECT 'year', date_trunc('year', month)::date, member_id, SUM(points) FROM months GROUP BY 2, 3
    UNION ALL SELECT 'all', DATE '1970-01-01', member_id, SUM(points) FROM months GROUP BY 3
) t
ORDER BY period, start, member_id
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-mem", default="256MB")
    parser.add_argument(
        "--service",
        action="store_true",
        help="time ratings.services.aggregates_rebuild() in the same harness",
    )
    args = parser.parse_args()
    database_url()
    django_setup()
    from django.db import connection, transaction

    from orgs.tenancy import company_context

    company = bench_company()
    params = {"c": company.id}
    with company_context(company.id), connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "CREATE TEMP TABLE old_daily ON COMMIT DROP AS"
                    " SELECT member_id, kpi_id, day, value, points,"
                    " actions FROM ratings_dailytotal"
                )
                cursor.execute(
                    "CREATE TEMP TABLE old_rating ON COMMIT DROP AS SELECT period, start, member_id, points"
                    " FROM ratings_ratingtotal"
                )
                started = time.perf_counter()
                if args.service:
                    from ratings.services import aggregates_rebuild

                    daily_rows, rating_rows = aggregates_rebuild()
                    daily = 0.0
                else:
                    cursor.execute("DELETE FROM ratings_dailytotal")
                    cursor.execute("DELETE FROM ratings_ratingtotal")
                    cursor.execute("SELECT set_config('work_mem', %s, true)", [args.work_mem])
                    cursor.execute(DAILY, params)
                    daily_rows = cursor.rowcount
                    daily = time.perf_counter() - started
                    cursor.execute(RATING, params)
                    rating_rows = cursor.rowcount
                total = time.perf_counter() - started
                cursor.execute(
                    "SELECT (SELECT COUNT(*) FROM (SELECT member_id, kpi_id, day, value, points, actions"
                    " FROM ratings_dailytotal EXCEPT ALL SELECT * FROM old_daily) x),"
                    " (SELECT COUNT(*) FROM (SELECT * FROM old_daily"
                    " EXCEPT ALL SELECT member_id, kpi_id, day,"
                    " value, points, actions FROM ratings_dailytotal) y),"
                    " (SELECT COUNT(*) FROM (SELECT period, start, member_id, points FROM ratings_ratingtotal"
                    " EXCEPT ALL SELECT * FROM old_rating) z),"
                    " (SELECT COUNT(*) FROM (SELECT * FROM old_rating"
                    " EXCEPT ALL SELECT period, start, member_id,"
                    " points FROM ratings_ratingtotal) w)"
                )
                differences = cursor.fetchone()
                raise RuntimeError("roll back")
        except RuntimeError as error:
            if str(error) != "roll back":
                raise
    what = "service aggregates_rebuild()" if args.service else f"prototype (work_mem {args.work_mem})"
    print(
        f"rebuild {what}, over existing aggregates, FKs checked immediately: delete+daily {daily:.1f} s "
        f"({daily_rows:,} rows), rating {total - daily:.1f} s ({rating_rows:,} rows), total {total:.1f} s; "
        f"differences from the service's aggregates (daily +/-, rating +/-): {differences}"
    )


if __name__ == "__main__":
    main()
