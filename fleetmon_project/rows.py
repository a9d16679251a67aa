"""A known row's fields written without Django's query compiler, for the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Field, Model


def _column(field: Field[Any, Any]) -> str:
    assert field.column is not None  # every concrete field has one
    return connection.ops.quote_name(field.column)


def row_fields_update(instance: Model, *, fields: Sequence[str]) -> None:
    """Write what `instance.save(update_fields=fields)` writes, as one UPDATE built here: each
    field's `pre_save` (an auto_now field stamps the instance too) and database preparation,
    without compiling an UpdateQuery, which cost a webhook attempt more instructions than its
    HTTP request. `fields` are attnames (`monitor_id`, not `monitor`) of the model's own table
    (no multi-table inheritance). Sends no pre_save/post_save signal: for models nothing
    listens to."""
    meta = instance._meta
    by_name = {field.attname: field for field in meta.concrete_fields}
    written = [by_name[name] for name in fields]
    values = [field.get_db_prep_save(field.pre_save(instance, add=False), connection) for field in written]
    assignments = ", ".join(f"{_column(field)} = %s" for field in written)
    assert meta.pk is not None  # every model has a primary key
    key = _column(by_name[meta.pk.attname])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} WHERE {key} = %s",
            [*values, instance.pk],
        )
        if cursor.rowcount != 1:
            raise DatabaseError(f"{meta.label} {instance.pk} was not updated: the row is gone")
