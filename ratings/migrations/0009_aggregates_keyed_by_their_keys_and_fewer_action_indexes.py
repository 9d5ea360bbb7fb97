"""Fewer index entries per recorded action (issues 5 and 6: ingestion and imports).

* The aggregates' primary key becomes their natural key (the unique constraint the recording
  service's upserts name): no ``id`` column and no index of it, so each aggregate row an action
  updates writes one index entry fewer. (Pages left partly free, so that a row's new version
  stays on its page, were tried and left out: the leaderboards' index-only counts then read the
  visibility map pages by turns, 20 instead of 11 ms for 65,000 entries.)
* ``ratings_kpiaction`` loses its single-column foreign-key indexes (company, person, KPI,
  recorder, voider): five of its ten index entries per action. The composite indexes, which start
  with the company as every query and the row-level security policy do, serve the reads.

Django cannot turn an existing primary key into a composite one by itself: ``CompositeKeyFromUnique``
does it (PostgreSQL: in place; SQLite: the table is made again and its rows copied). It cannot be
undone.
"""

import django.db.models.deletion
from django.db import migrations, models

import orgs.tenancy

class CompositeKeyFromUnique(migrations.operations.base.Operation):
    """Make ``unique``'s columns the primary key of ``model_name`` and drop its ``id``."""

    reversible = False

    def __init__(self, model_name: str, unique: str, fields: tuple[str, ...], include: tuple[str, ...] = ()):
        self.model_name, self.unique, self.fields, self.include = model_name, unique, fields, include

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [self.model_name, self.unique, self.fields],
            {"include": self.include} if self.include else {},
        )

    def state_forwards(self, app_label, state):
        migrations.RemoveConstraint(self.model_name, self.unique).state_forwards(app_label, state)
        migrations.RemoveField(self.model_name, "id").state_forwards(app_label, state)
        migrations.AddField(
            self.model_name,
            "pk",
            models.CompositePrimaryKey(
                *self.fields, blank=True, editable=False, primary_key=True, serialize=False
            ),
        ).state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        old = from_state.apps.get_model(app_label, self.model_name)
        new = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(new._meta.db_table)
        columns = [new._meta.get_field(name).column for name in self.fields]
        if schema_editor.connection.vendor == "postgresql":
            quoted = ", ".join(schema_editor.quote_name(column) for column in columns)
            include = f" INCLUDE ({', '.join(self.include)})" if self.include else ""
            pkey = schema_editor.quote_name(f"{new._meta.db_table}_pkey")
            schema_editor.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT {pkey},"
                f" DROP CONSTRAINT {schema_editor.quote_name(self.unique)}, DROP COLUMN id,"
                f" ADD CONSTRAINT {pkey} PRIMARY KEY ({quoted}){include}"
            )
            return
        # Elsewhere (SQLite) a primary key cannot be altered: make the table again, rows kept.
        # Only the model's own quoted identifiers are joined into the SQL.
        kept = ", ".join(
            schema_editor.quote_name(field.column)
            for field in new._meta.local_concrete_fields
            if not field.generated
        )
        schema_editor.execute(f"CREATE TEMPORARY TABLE kept_rows AS SELECT {kept} FROM {table}")  # noqa: S608
        schema_editor.delete_model(old)
        schema_editor.create_model(new)
        schema_editor.execute(f"INSERT INTO {table} ({kept}) SELECT {kept} FROM kept_rows")  # noqa: S608
        schema_editor.execute("DROP TABLE kept_rows")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        raise NotImplementedError

    def describe(self):
        return f"Key {self.model_name} by {', '.join(self.fields)} instead of id"


ACTION_COLUMNS_UNINDEXED = ("company_id", "member_id", "kpi_id", "recorded_by_id", "voided_by_id")


def _action_index_names(apps, schema_editor) -> list[str]:
    """The names Django gave the single-column indexes when it created the foreign keys."""
    table = apps.get_model("ratings", "KpiAction")._meta.db_table
    return [schema_editor._create_index_name(table, [column]) for column in ACTION_COLUMNS_UNINDEXED]


def drop_action_indexes(apps, schema_editor):
    for name in _action_index_names(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_action_indexes(apps, schema_editor):
    table = schema_editor.quote_name(apps.get_model("ratings", "KpiAction")._meta.db_table)
    for name, column in zip(_action_index_names(apps, schema_editor), ACTION_COLUMNS_UNINDEXED, strict=True):
        schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} ON {table} ({column})")


class Migration(migrations.Migration):
    dependencies = [
        ("kpis", "0001_initial"),
        ("orgs", "0005_member_unit_indexes_cover_people"),
        ("ratings", "0008_rating_rank_in_integer_cents"),
    ]

    operations = [
        CompositeKeyFromUnique("dailytotal", "daily_total_unique", ("company", "member", "kpi", "day")),
        CompositeKeyFromUnique("companydailytotal", "company_daily_total_unique", ("company", "kpi", "day")),
        CompositeKeyFromUnique(
            "departmentdailytotal", "department_daily_total_unique", ("company", "department", "kpi", "day")
        ),
        CompositeKeyFromUnique(
            "ratingtotal", "rating_total_unique", ("company", "period", "start", "member"), include=("points",)
        ),
        migrations.SeparateDatabaseAndState(
            # AlterField would drop and re-validate every foreign key of the table; only the indexes go.
            database_operations=[migrations.RunPython(drop_action_indexes, create_action_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="kpiaction",
                    name="company",
                    field=models.ForeignKey(
                        db_index=False,
                        default=orgs.tenancy.current_company_id,
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="orgs.company",
                    ),
                ),
                migrations.AlterField(
                    model_name="kpiaction",
                    name="kpi",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="kpis.kpi",
                        verbose_name="KPI",
                    ),
                ),
                migrations.AlterField(
                    model_name="kpiaction",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="orgs.member",
                        verbose_name="person",
                    ),
                ),
                migrations.AlterField(
                    model_name="kpiaction",
                    name="recorded_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="orgs.member",
                        verbose_name="recorded by",
                    ),
                ),
                migrations.AlterField(
                    model_name="kpiaction",
                    name="voided_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="orgs.member",
                        verbose_name="voided by",
                    ),
                ),
            ],
        ),
    ]
