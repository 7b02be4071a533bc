"""Numbering a long list of conversations without counting it: the admin changelist's pages.

A COUNT(*) over an archive of 100,000 conversations reads all of them to print a page number.
On PostgreSQL a list is numbered from the database's own estimate instead: `pg_class.reltuples`
for the whole table, the planner's row estimate for a filtered or searched list. A list
estimated at EXACT_COUNT_LIMIT rows or fewer is counted exactly, up to one row past the limit,
in the same query that reads its page. Other databases count exactly, as Django does.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import IntegerField, QuerySet
from django.db.models.expressions import RawSQL

# Up to this many rows a list is counted exactly; past it PostgreSQL's own estimate stands in,
# so no page ever reads the whole archive just to number its pages.
EXACT_COUNT_LIMIT = 1000
# Rows as of the table's last ANALYZE (autovacuum keeps it close); -1 before the first one,
# 0 for a new table: both then counted exactly.
TABLE_ESTIMATE = "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass"


def estimated_rows(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows in `queryset` (one cheap query); None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    if not queryset.query.where and not queryset.query.distinct:
        table = queryset.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(TABLE_ESTIMATE, [table])
            return int(cursor.fetchone()[0])
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def with_capped_count(queryset: QuerySet) -> QuerySet:
    """Each row annotated with the list's length up to EXACT_COUNT_LIMIT + 1: an uncorrelated
    subquery, which the database runs once and which stops after that many rows."""
    capped = queryset.order_by().values("pk")[: EXACT_COUNT_LIMIT + 1]
    sql, params = capped.query.get_compiler(queryset.db).as_sql()
    listed = RawSQL(f"SELECT COUNT(*) FROM ({sql}) capped", params, output_field=IntegerField())
    return queryset.annotate(listed_up_to_limit=listed)


def counted_page(queryset: QuerySet, *, offset: int, limit: int) -> tuple[list[Any], int]:
    """`limit` rows from `offset` on, and the length of the list: two queries at most.

    A list estimated above the limit takes the estimate (never less than the rows already
    seen); any other list reads its page with its capped count. An estimate too low is caught
    by that count, and an empty page beyond the first is left for the caller to refuse."""
    estimate = estimated_rows(queryset)
    if estimate is not None and estimate > EXACT_COUNT_LIMIT:
        rows = list(queryset[offset : offset + limit])
        return rows, max(estimate, offset + len(rows))
    rows = list(with_capped_count(queryset)[offset : offset + limit])
    if not rows:
        return rows, 0
    count = rows[0].listed_up_to_limit
    if count > EXACT_COUNT_LIMIT:
        count = queryset.count() if estimate is None else max(estimate, count, offset + len(rows))
    return rows, count


class CountedPaginator(Paginator):
    """Page links for a list whose length `counted_page` has already found."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.count = count
