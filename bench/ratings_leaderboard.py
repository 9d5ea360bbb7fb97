"""Leaderboards on the bench data (run ``python -m bench.ratings_data`` first).

    .venv/bin/python -m bench.ratings_leaderboard [--runs 50]

Times, as the app runs them (application role, company_context, one transaction per call, so the
row-level security policy is paid), p50 and p95 over ``--runs`` calls each:
  * ratings.selectors.leaderboard, top 50 + the viewer's rank, company scope, for the week,
    month, quarter, year and all time containing the reference day (the data's last day − 30);
  * the same for a department and a team (month and year);
  * ratings.selectors.leaderboard_range over arbitrary 45- and 200-day ranges, company scope;
  * the reference: the month's top 50 + the viewer's rank computed by scanning ratings_kpiaction
    (GROUP BY member, counting KPIs only, not voided, the month's days), in the same run;
and prints each ratio to the reference (how many times faster than the scan).
"""

import argparse
import datetime
import time

from bench._common import bench_company, database_url, django_setup, ms, percentile, vacuum_aggregates

SCAN_SQL = """
WITH sums AS (
    SELECT a.member_id, SUM(a.points) AS total
    FROM ratings_kpiaction a
    WHERE a.company_id = %(company)s AND a.voided_at IS NULL
      AND a.day BETWEEN %(start)s AND %(end)s
      AND a.kpi_id IN (SELECT id FROM kpis_kpi WHERE company_id = %(company)s AND status = 'active'
                       AND in_rating AND archived_at IS NULL)
    GROUP BY a.member_id
    HAVING SUM(a.points) > 0
)
SELECT member_id, total, NULL FROM (SELECT * FROM sums ORDER BY total DESC, member_id LIMIT 50) top
UNION ALL
SELECT %(viewer)s, NULL, (SELECT COUNT(*) FROM sums WHERE total > COALESCE(
    (SELECT total FROM sums WHERE member_id = %(viewer)s), 0)) + 1
"""


def timed(runs: int, call) -> list[float]:
    from django.db import transaction

    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        with transaction.atomic():  # one transaction per request (ATOMIC_REQUESTS)
            call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--scan-runs", type=int, default=10)
    args = parser.parse_args()
    url = database_url()
    vacuum_aggregates(url)
    django_setup()
    from django.db import connection

    from orgs.models import Member
    from orgs.tenancy import company_context
    from ratings.models import KpiAction
    from ratings.periods import period_end, period_start
    from ratings.selectors import Scope, leaderboard, leaderboard_range

    company = bench_company()
    with company_context(company.id):
        last_day = KpiAction.objects.order_by("-day").values_list("day", flat=True).first()
        actions = KpiAction.objects.count()
        people = Member.objects.count()
        day = last_day - datetime.timedelta(days=30)
        # The viewer: someone in the middle of the month's board, in a department and a team.
        board = leaderboard(period="month", day=day, limit=1, offset=people // 4)
        viewer = Member.objects.get(user_id=board.rows[0].member_id)
        print(
            f"leaderboards on PostgreSQL: {actions:,} actions, {people:,} people; reference day {day}, "
            f"viewer {viewer.user_id} (rank {board.rows[0].rank} of {board.count:,} this month); "
            f"{args.runs} runs each, app role + RLS"
        )
        results = {}

        def report(label: str, samples: list[float], reference: float | None = None, goal: str = "") -> None:
            p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
            ratio = f"  {reference / p50:6.1f}x faster than the scan (p50/p50)" if reference else " " * 41
            print(f"  {label:<40} p50 {ms(p50)}  p95 {ms(p95)}{ratio}  {goal}", flush=True)
            results[label] = (p50, p95)

        # the reference: the month's answer from the raw actions, as the app role
        start = period_start("month", day)
        params = {
            "company": company.id,
            "start": start,
            "end": period_end("month", start),
            "viewer": viewer.user_id,
        }

        def scan():
            with connection.cursor() as cursor:
                cursor.execute(SCAN_SQL, params)
                return cursor.fetchall()

        scan()  # warm
        scan_samples = timed(args.scan_runs, scan)
        check = scan()
        reference = percentile(scan_samples, 0.5)
        report("reference: month top 50 + rank, scan", scan_samples)
        ours = leaderboard(period="month", day=day, limit=50, viewer=viewer)
        same = [(r.member_id, r.points) for r in ours.rows] == [(m, t) for m, t, _ in check[:-1]] and (
            ours.me.rank == check[-1][2]
        )
        print(f"  (the scan's answer equals leaderboard(): {same})")

        for period in ("week", "month", "quarter", "year", "all"):
            leaderboard(period=period, day=day, limit=50, viewer=viewer)  # warm
            samples = timed(
                args.runs, lambda p=period: leaderboard(period=p, day=day, limit=50, viewer=viewer)
            )
            report(f"company {period:<8} top 50 + my rank", samples, reference, "goal p95 <= 20 ms, >= 25x")
        for kind, unit_id in (("department", viewer.department_id), ("team", viewer.team_id)):
            scope = Scope(kind, unit_id)
            for period in ("month", "year"):
                leaderboard(period=period, day=day, scope=scope, limit=50, viewer=viewer)
                samples = timed(
                    args.runs,
                    lambda p=period, s=scope: leaderboard(
                        period=p, day=day, scope=s, limit=50, viewer=viewer
                    ),
                )
                report(f"{kind:<10} {period:<8} top 50 + my rank", samples, reference, "goal p95 <= 50 ms")
        # Arbitrary ranges: 45 days (whole weeks and edge days) and 200 days (months too).
        for length in (45, 200):
            range_end = day - datetime.timedelta(days=6)
            range_start = range_end - datetime.timedelta(days=length - 1)
            leaderboard_range(start=range_start, end=range_end, limit=50, viewer=viewer)
            samples = timed(
                min(args.runs, 20),
                lambda s=range_start, e=range_end: leaderboard_range(start=s, end=e, limit=50, viewer=viewer),
            )
            report(f"range {range_start}..{range_end} ({length} days)", samples, reference, "goal p95 <= 1 s")


if __name__ == "__main__":
    main()
