"""On PostgreSQL, the rating totals' unique index also carries the points (INCLUDE), so a unit's
leaderboard and a viewer's points are index-only lookups. Django would skip a constraint with
``include`` on SQLite altogether (no uniqueness, no upsert target there), so the model declares the
portable constraint and this migration widens it where covering indexes exist."""

from django.db import migrations

COVERING = (
    "ALTER TABLE ratings_ratingtotal DROP CONSTRAINT rating_total_unique,"
    " ADD CONSTRAINT rating_total_unique UNIQUE (company_id, period, start, member_id) INCLUDE (points)"
)
PLAIN = (
    "ALTER TABLE ratings_ratingtotal DROP CONSTRAINT rating_total_unique,"
    " ADD CONSTRAINT rating_total_unique UNIQUE (company_id, period, start, member_id)"
)


def cover_points(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COVERING)


def uncover_points(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLAIN)


class Migration(migrations.Migration):
    dependencies = [
        ("ratings", "0003_aggregates_lean_keys_and_board_sizes"),
    ]

    operations = [migrations.RunPython(cover_points, uncover_points)]
