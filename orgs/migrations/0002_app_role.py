"""The PostgreSQL role requests and tasks run as (see orgs/database.py). Nothing on SQLite.

Grants and row-level security policies are (re)applied after every migrate by orgs' post_migrate
handler, so tables created by later migrations are covered too.
"""

from django.db import migrations


def create_app_role(apps, schema_editor):
    from orgs.database import ensure_app_role, is_postgresql

    if is_postgresql(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            ensure_app_role(cursor)


class Migration(migrations.Migration):
    dependencies = [("orgs", "0001_initial")]
    operations = [migrations.RunPython(create_app_role, migrations.RunPython.noop, elidable=False)]
