"""Transcript search on PostgreSQL: pg_trgm and a trigram GIN index over the turns' text.

Django's `icontains` is `UPPER(text) LIKE UPPER('%word%')` on PostgreSQL, so the index is on that
expression, and the table is analyzed at once for that expression's statistics. The index is
built CONCURRENTLY (hence `atomic = False`) so that conversations go on being recorded while it
builds. Other databases get nothing: SQLite has no GIN and searches by scanning.
pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
"""

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that runs only when the database is PostgreSQL, and is a no-op elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0002_reconciled_sources"),
    ]

    operations = [
        PostgreSQLOnly(
            sql=[
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS turn_text_trgm "
                "ON conversations_turn USING gin (UPPER(text) gin_trgm_ops)",
                # Statistics on the indexed expression: without them the planner guesses every
                # word is rare and, for a common one, reads all its matches to list 50.
                "ANALYZE conversations_turn",
            ],
            reverse_sql=["DROP INDEX CONCURRENTLY IF EXISTS turn_text_trgm"],
        ),
    ]
