"""Written-out SQL for the writes every call and every group of relayed batches makes: a call's
new row and its connected and end updates, a group's new rows and its changed rows.

Built by the ORM, a batch of five events spent most of its CPU compiling SQL (`bulk_create`
preparing every value through the compiler, `save(update_fields=…)` building an UPDATE): about
half of the one database thread's time at 1,000 events/s (bench.ingestion, py-spy); a turn
completed in a later batch than the one that opened it went through `bulk_update`, whose CASE
per field and row took half the process's CPU when every frame carried one event. These build
each statement's text once per set of columns and adapt values with the fields' own
`get_db_prep_save`, so what is stored is what the ORM would store.

On PostgreSQL a group's rows go as one array per column (`unnest`): the statement's text is the
same whatever the number of rows, so psycopg parses it once (it re-parsed statements of more than
50 parameters every time: a tenth of a group's CPU), and the changed rows are one UPDATE, not
one statement per row in a pipeline.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from conversations.models import Conversation

# Rows per INSERT: far below SQLite's 32,766 bound variables with a dozen columns each.
MAX_ROWS = 500


def insert_rows(rows: Sequence[Model], key: Sequence[str]) -> None:
    """INSERT `rows` (new instances of one model), setting each one's primary key. `key` names
    fields unique together among them, by which the returned keys are matched to the rows (the
    order of a RETURNING clause is not promised). Without RETURNING support, the ORM's
    `bulk_create`."""
    if not rows:
        return
    model, db = type(rows[0]), _connection()
    if not db.features.can_return_rows_from_bulk_insert:
        model._default_manager.bulk_create(rows)
        return
    fields = _insert_fields(model)
    names = tuple(model._meta.get_field(name).attname for name in key)
    arrays = _arrays(db)
    for start in range(0, len(rows), MAX_ROWS):
        chunk = rows[start : start + MAX_ROWS]
        if arrays:
            params = [[_db_value(field, row, db, add=True) for row in chunk] for field in fields]
        else:
            params = [_db_value(field, row, db, add=True) for row in chunk for field in fields]
        with db.cursor() as cursor:
            cursor.execute(_insert_sql(model, tuple(key), 0 if arrays else len(chunk)), params)
            returned = {tuple(values): pk for pk, *values in cursor.fetchall()}
        for row in chunk:
            row.pk = returned[tuple(getattr(row, name) for name in names)]
            row._state.adding, row._state.db = False, db.alias


def insert_row(row: Model) -> None:
    """INSERT one new instance, setting its primary key: `save()` without the ORM compiling the
    statement each time (nor its signals, which no model here listens to)."""
    model, db = type(row), _connection()
    if not db.features.can_return_columns_from_insert:
        row.save(force_insert=True)
        return
    params = [_db_value(field, row, db, add=True) for field in _insert_fields(model)]
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(model, (), 1), params)
        (row.pk,) = cursor.fetchone()
    row._state.adding, row._state.db = False, db.alias


def update_rows(rows: Sequence[Model], names: Sequence[str]) -> None:
    """UPDATE the named fields of each of `rows` (saved instances of one model) to its values,
    for what `bulk_update` would compile into a CASE per field: one statement for all the rows
    on PostgreSQL, one executed once per row (`executemany`) elsewhere. Like `bulk_update`, it
    sends no signals."""
    if not rows:
        return
    model, db = type(rows[0]), _connection()
    fields = [model._meta.get_field(name) for name in names]
    if _arrays(db):
        keys = [row.pk for row in rows]
        columns = [[_db_value(field, row, db, add=False) for row in rows] for field in fields]  # type: ignore[arg-type]
        with db.cursor() as cursor:
            cursor.execute(_update_arrays_sql(model, tuple(names)), [keys, *columns])
        return
    params = [
        [*(_db_value(field, row, db, add=False) for field in fields), row.pk]  # type: ignore[arg-type]
        for row in rows
    ]
    with db.cursor() as cursor:
        cursor.executemany(_update_sql(model, tuple(names)), params)


def locked_rows(model: type[Model], pks: Sequence[Any], names: Sequence[str]) -> list[Model]:
    """The rows with these primary keys, in key order, with only the named fields loaded (any
    other loads when read), locked until the transaction ends where the backend locks rows:
    `select_for_update().filter(pk__in=pks).order_by("pk").only(*names)` without compiling it
    each time (every group of relayed batches locks its conversations)."""
    if not pks:
        return []
    db = _connection()
    fields = [f for f in model._meta.concrete_fields if f.primary_key or f.name in names]
    for_update = db.features.has_select_for_update
    # On PostgreSQL one array of keys: the same text, parsed once, for any number of rows.
    count, params = (0, [list(pks)]) if _arrays(db) else (len(pks), list(pks))
    with db.cursor() as cursor:
        cursor.execute(_locked_sql(model, tuple(names), count, for_update), params)
        rows = cursor.fetchall()
    converters = [_converters(field, db) for field in fields]
    attnames = [field.attname for field in fields]
    return [
        model.from_db(db.alias, attnames, [_converted(value, found, db) for value, found in zip(
            row, converters, strict=True)])
        for row in rows
    ]  # fmt: skip


def _converters(field: Field, db: BaseDatabaseWrapper) -> tuple[Any, list[Any]]:
    """What the ORM applies to the column's values as read (the backend's, then the field's)."""
    column = field.get_col(field.model._meta.db_table)
    return column, [*db.ops.get_db_converters(column), *column.get_db_converters(db)]


def _converted(value: Any, found: tuple[Any, list[Any]], db: BaseDatabaseWrapper) -> Any:
    column, converters = found
    for converter in converters:
        value = converter(value, column, db)
    return value


@functools.cache
def _locked_sql(model: type[Model], names: tuple[str, ...], count: int, for_update: bool) -> str:
    """The SELECT of `count` keys, or of one array of keys when `count` is 0 (PostgreSQL)."""
    name = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if f.primary_key or f.name in names]
    pk = name(model._meta.pk.column)
    keys = f"= ANY(%s::{_array_type(model._meta.pk)})" if not count else (
        f"IN ({', '.join(['%s'] * count)})"
    )  # fmt: skip
    return (
        f"SELECT {', '.join(name(f.column) for f in fields)} FROM {name(model._meta.db_table)}"
        f" WHERE {pk} {keys} ORDER BY {pk}" + (" FOR UPDATE" if for_update else "")
    )


def _arrays(db: BaseDatabaseWrapper) -> bool:
    """Whether rows go as one array per column (`unnest`): PostgreSQL's."""
    return db.vendor == "postgresql"


def _array_type(field: Field) -> str:
    """The PostgreSQL array type of the column's values, e.g. `varchar(40)[]`."""
    return f"{field.db_type(connection)}[]"


def _connection() -> BaseDatabaseWrapper:
    # The thread's connection itself, looked up once per statement: values are adapted through
    # it, and each use of the `connection` proxy is a lookup in asgiref's thread-local (a tenth
    # of a group's CPU, py-spy).
    return connections[DEFAULT_DB_ALIAS]


def _db_value(field: Field, row: Model, db: BaseDatabaseWrapper, *, add: bool) -> Any:
    return field.get_db_prep_save(field.pre_save(row, add), db)


def _insert_fields(model: type[Model]) -> list[Field]:
    return [f for f in model._meta.concrete_fields if f is not model._meta.pk]


@functools.cache
def _insert_sql(model: type[Model], key: tuple[str, ...], count: int) -> str:
    """INSERT of `count` rows, or of rows given as one array per column when `count` is 0
    (PostgreSQL), returning each one's primary key and then its `key` fields."""
    name = connection.ops.quote_name
    fields = _insert_fields(model)
    if count:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        values = f"VALUES {', '.join([row] * count)}"
    else:
        values = f"SELECT * FROM unnest({', '.join(f'%s::{_array_type(f)}' for f in fields)})"
    returning = [model._meta.pk, *(model._meta.get_field(field) for field in key)]
    return (
        f"INSERT INTO {name(model._meta.db_table)} ({', '.join(name(f.column) for f in fields)})"
        f" {values} RETURNING {', '.join(name(f.column) for f in returning)}"
    )


@functools.cache
def _update_arrays_sql(model: type[Model], names: tuple[str, ...]) -> str:
    """UPDATE of the named columns of rows given as an array of primary keys and one array
    per column (PostgreSQL): one statement for all of them."""
    name = connection.ops.quote_name
    fields = [model._meta.pk, *(model._meta.get_field(n) for n in names)]
    columns = [name(field.column) for field in fields]
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in fields)
    table, pk = name(model._meta.db_table), columns[0]
    sets = ", ".join(f"{column} = given.{column}" for column in columns[1:])
    return (
        f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS given ({', '.join(columns)})"
        f" WHERE {table}.{pk} = given.{pk}"
    )


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> str:
    name = connection.ops.quote_name
    sets = ", ".join(f"{name(model._meta.get_field(n).column)} = %s" for n in names)
    pk = name(model._meta.pk.column)
    return f"UPDATE {name(model._meta.db_table)} SET {sets} WHERE {pk} = %s"


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run one statement (its own transaction unless in one); the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def connected_sql(columns: tuple[str, ...]) -> str:
    """`mark_connected`'s UPDATE, setting the given id columns where they are blank. Parameters:
    CONNECTING, ACTIVE, one value per column, the conversation id."""
    name = connection.ops.quote_name
    unless_set = [f"{c} = CASE WHEN {c} = '' THEN %s ELSE {c} END" for c in map(name, columns)]
    status = name("status")
    sets = [f"{status} = CASE WHEN {status} = %s THEN %s ELSE {status} END", *unless_set]
    table = name(Conversation._meta.db_table)
    return f"UPDATE {table} SET {', '.join(sets)} WHERE {name('id')} = %s"


@functools.cache
def ended_sql() -> str:
    """`end_conversation`'s UPDATE of a conversation not ended yet. Parameters: the end time, the
    reason, FAILED, ENDED, the conversation id."""
    name = connection.ops.quote_name
    status = name("status")
    return (
        f"UPDATE {name(Conversation._meta.db_table)} SET {name('ended_at')} = %s,"
        f" {name('end_reason')} = %s, {status} = CASE WHEN {status} = %s THEN {status} ELSE %s END"
        f" WHERE {name('id')} = %s AND {name('ended_at')} IS NULL"
    )
