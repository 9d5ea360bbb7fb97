"""On PostgreSQL the people's daily totals' primary key also carries their sums, count, low and high
(INCLUDE), so a unit's rows (a department's by team, a team's, a page of people) are read person by
person from the key alone: a department's month was a scan of the whole company's rows of the
month in the (company, KPI, day) index, 800,000 entries at 100,000 people for 2,000 of them
(bench.dashboards, issue 18). Updates of these rows were never HOT (the KPI-day index covers the
sums), so the key is rewritten on each one already: only its entries grow."""

from django.db import migrations

COVERED = "value, points, actions, low, high"


def _key(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE ratings_dailytotal DROP CONSTRAINT ratings_dailytotal_pkey,"
        " ADD CONSTRAINT ratings_dailytotal_pkey PRIMARY KEY (company_id, member_id, kpi_id, day)" + include
    )


def cover(apps, schema_editor):
    _key(schema_editor, f" INCLUDE ({COVERED})")


def uncover(apps, schema_editor):
    _key(schema_editor, "")


class Migration(migrations.Migration):
    dependencies = [("ratings", "0016_period_latest")]

    operations = [migrations.RunPython(cover, uncover)]
