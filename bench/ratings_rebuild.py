"""The aggregate rebuild on the bench data (run ``python -m bench.ratings_data`` first).

    .venv/bin/python -m bench.ratings_rebuild

In one transaction that is rolled back (the bench data keeps its aggregates), as the app role in
the company's context:
  1. copies the current aggregates aside (untimed);
  2. times ratings.services.aggregates_rebuild() (``manage.py rebuild_ratings``): computing the
     company's aggregates again from its 10 M actions and writing the rows that differ (goal:
     <= 5 minutes);
  3. checks that the result equals the aggregates it replaced (EXCEPT ALL both ways), which the
     recording service kept incrementally: the daily totals' sums and K11 levels (low, high and
     the last action), and the rating totals.
"""

import argparse
import time

from bench._common import bench_company, database_url, django_setup

DAILY = "member_id, kpi_id, day, value, points, actions, low, high, last_value, last_at, last_action_id"
LATEST = "kpi_id, period, start, member_id, last_value, last_at, last_action_id"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    database_url()
    django_setup()
    from django.db import connection, transaction

    from orgs.tenancy import company_context

    company = bench_company()
    with company_context(company.id), connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    f"CREATE TEMP TABLE old_daily ON COMMIT DROP AS SELECT {DAILY} FROM ratings_dailytotal"  # noqa: S608
                )
                cursor.execute(
                    "CREATE TEMP TABLE old_rating ON COMMIT DROP AS SELECT period, start, member_id, points"
                    " FROM ratings_ratingtotal"
                )
                cursor.execute(
                    f"CREATE TEMP TABLE old_latest ON COMMIT DROP AS SELECT {LATEST}"  # noqa: S608
                    " FROM ratings_periodlatest"
                )
                started = time.perf_counter()
                from ratings.services import aggregates_rebuild

                result = aggregates_rebuild()
                total = time.perf_counter() - started
                cursor.execute(
                    f"SELECT (SELECT COUNT(*) FROM (SELECT {DAILY}"  # noqa: S608 (DAILY: constant column names)
                    " FROM ratings_dailytotal EXCEPT ALL SELECT * FROM old_daily) x),"
                    " (SELECT COUNT(*) FROM (SELECT * FROM old_daily"
                    f" EXCEPT ALL SELECT {DAILY} FROM ratings_dailytotal) y),"
                    " (SELECT COUNT(*) FROM (SELECT period, start, member_id, points FROM ratings_ratingtotal"
                    " EXCEPT ALL SELECT * FROM old_rating) z),"
                    " (SELECT COUNT(*) FROM (SELECT * FROM old_rating"
                    " EXCEPT ALL SELECT period, start, member_id,"
                    " points FROM ratings_ratingtotal) w),"
                    f" (SELECT COUNT(*) FROM (SELECT {LATEST} FROM ratings_periodlatest"
                    " EXCEPT ALL SELECT * FROM old_latest) v),"
                    f" (SELECT COUNT(*) FROM (SELECT * FROM old_latest EXCEPT ALL SELECT {LATEST}"
                    " FROM ratings_periodlatest) u)"
                )
                differences = cursor.fetchone()
                raise RuntimeError("roll back")
        except RuntimeError as error:
            if str(error) != "roll back":
                raise
    print(
        f"aggregates_rebuild() over the existing aggregates: {total:.1f} s ({result.daily:,} daily "
        f"totals, {result.rating:,} rating totals, {result.corrected:,} corrected; goal <= 300 s); "
        "differences from the incrementally kept aggregates (daily +/-, rating +/-, latest values +/-): "
        f"{differences}"
    )


if __name__ == "__main__":
    main()
