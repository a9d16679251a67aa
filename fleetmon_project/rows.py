"""Known rows read and written without Django's query compiler, for the hot path."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError, connection
from django.db.models import Field, Model

_Converter = Callable[[Any, Any, Any], Any]
M = TypeVar("M", bound=Model)


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
    sql, written = _update_statement(type(instance), tuple(fields), connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(instance, add=False), connection) for field in written]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, instance.pk])
        if cursor.rowcount != 1:
            raise DatabaseError(f"{instance._meta.label} {instance.pk} was not updated: the row is gone")


# The statements are built once per process: quoting every column again cost an attempt more
# than a tenth of its instructions. By vendor, as quoting is the backend's.
@functools.cache
def _update_statement(model: type[Model], fields: tuple[str, ...], vendor: str) -> tuple[str, list[Field[Any, Any]]]:
    meta = model._meta
    by_name = {field.attname: field for field in meta.concrete_fields}
    written = [by_name[name] for name in fields]
    assignments = ", ".join(f"{_column(field)} = %s" for field in written)
    assert meta.pk is not None  # every model has a primary key
    key = _column(by_name[meta.pk.attname])
    return f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} WHERE {key} = %s", written


def row_insert(instance: Model) -> None:
    """Insert `instance` as `instance.save()` would insert a new row: each field's `pre_save`
    (auto_now_add stamps it) and database preparation, its database-generated primary key set
    on the instance; as one INSERT built here, without compiling an InsertQuery (a webhook
    attempt inserts one row per try). Sends no signal: for models nothing listens to. Their own
    table only (no multi-table inheritance), and related objects already saved."""
    meta = instance._meta
    assert meta.pk is not None  # every model has a primary key
    generated = meta.pk.db_returning and getattr(instance, meta.pk.attname) is None
    sql, written, returns = _insert_statement(type(instance), generated, connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in written]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if returns:
            setattr(instance, meta.pk.attname, cursor.fetchone()[0])
        elif generated:
            assert meta.pk.column is not None
            setattr(instance, meta.pk.attname, connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column))
    instance._state.adding = False
    instance._state.db = connection.alias


@functools.cache
def _insert_statement(model: type[Model], generated: bool, vendor: str) -> tuple[str, list[Field[Any, Any]], bool]:
    meta = model._meta
    assert meta.pk is not None  # every model has a primary key
    written = [field for field in meta.concrete_fields if not (generated and field is meta.pk)]
    columns = ", ".join(_column(field) for field in written)
    placeholders = ", ".join(["%s"] * len(written))
    returns = generated and connection.features.can_return_columns_from_insert
    returning = f" RETURNING {_column(meta.pk)}" if returns else ""
    return f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({placeholders}){returning}", written, returns


def model_columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in the order models_from_row reads them."""
    return _columns(model, alias, connection.vendor)


@functools.cache
def _columns(model: type[Model], alias: str, vendor: str) -> str:
    return ", ".join(f"{alias}.{_column(field)}" for field in model._meta.concrete_fields)


@functools.cache
def _converters(model: type[Model], alias: str) -> tuple[tuple[int, tuple[_Converter, ...], Any], ...]:
    """Per concrete field that has any: its position, its converters and the column expression
    they expect, as a queryset's compiler gathers them (JSON decoded, and so on). The same for
    every connection of an alias (each thread has its own)."""
    found = []
    for position, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
        if converters:
            found.append((position, converters, column))
    return tuple(found)


def models_from_row(row: Sequence[Any], *models: type[Model]) -> tuple[list[Model], list[Any]]:
    """Instances of `models` from a row that selected model_columns() of each in turn, each value
    converted as a queryset would; and the row's columns after them. Lets one statement read
    joined rows (a raw queryset builds one model, and compiling a select_related costs more
    instructions than the hot path's whole statement)."""
    values = list(row)
    instances = []
    start = 0
    for model in models:
        attnames = _attnames(model)
        own = values[start : start + len(attnames)]
        for position, converters, column in _converters(model, connection.alias):
            for converter in converters:
                own[position] = converter(own[position], column, connection)
        instances.append(model.from_db(connection.alias, attnames, own))
        start += len(attnames)
    return instances, values[start:]


def model_from_row(row: Sequence[Any], model: type[M]) -> M:
    """An instance of `model` from a row of model_columns(), as models_from_row reads it."""
    (instance,), _ = models_from_row(row, model)
    assert isinstance(instance, model)
    return instance


def models_read(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """The instances of `model` a statement selecting its model_columns() returns."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [model_from_row(row, model) for row in rows]


@functools.cache
def _attnames(model: type[Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]
