"""The store's records as plain JSON values and back.

to_json serves the command line's --json output and the case bundle;
from_json reads a bundle's case.json back into records, checking every
value's type against the record's declared field types, so a damaged or
hostile bundle is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from models.types import Box, Evidence
from storage.errors import StoreError

R = TypeVar("R")


def to_json(value: Any) -> Any:
    if isinstance(value, Box):
        return value.to_list()
    if isinstance(value, Evidence):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def from_json(record_type: type[R], data: Any, where: str = "case") -> R:
    """Build a record of `record_type` from to_json's output (StoreError if it does not fit)."""
    try:
        return _convert(record_type, data, where)
    except StoreError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise StoreError(f"{where}: {exc}", "bad-bundle") from None


@cache
def _hints(record_type: type) -> dict[str, Any]:
    return get_type_hints(record_type)


def _convert(kind: Any, data: Any, where: str) -> Any:
    origin = get_origin(kind)
    if kind is Any:
        return data
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                return _convert(option, data, where)
    if origin is Literal:
        if data not in get_args(kind):
            raise StoreError(f"{where}: {data!r} is not one of {get_args(kind)}", "bad-bundle")
        return data
    if origin is tuple:
        item_type = get_args(kind)[0]
        return tuple(_convert(item_type, item, f"{where}[{i}]") for i, item in enumerate(_expect(list, data, where)))
    if origin is list:
        item_type = get_args(kind)[0]
        return [_convert(item_type, item, f"{where}[{i}]") for i, item in enumerate(_expect(list, data, where))]
    if origin is dict or kind is dict:
        values = dict(_expect(dict, data, where))
        value_type = get_args(kind)[1] if len(get_args(kind)) == 2 else Any
        if value_type is not Any:  # e.g. timings: dict[str, float] holds numbers only
            values = {_convert(str, key, where): _convert(value_type, item, f"{where}.{key}")
                      for key, item in values.items()}
        return values
    if kind is Box:
        return Box.from_list(data)
    if kind is Evidence:
        values = _expect(dict, data, where)
        for name in ("kind", "source", "finding"):
            _convert(str, values.get(name), f"{where}.{name}")
        for name, value_type in (("supports", str), ("strength", float), ("decisive", bool), ("details", dict)):
            if values.get(name) is not None:
                _convert(value_type, values[name], f"{where}.{name}")
        return Evidence.from_dict(values)
    if kind is datetime:
        stamp = datetime.fromisoformat(_expect(str, data, where))
        if stamp.tzinfo is None:
            raise StoreError(f"{where}: timestamp {data!r} has no time zone", "bad-bundle")
        return stamp
    if dataclasses.is_dataclass(kind):
        values = _expect(dict, data, where)
        hints = _hints(kind)
        arguments = {}
        for item in dataclasses.fields(kind):
            if item.name not in values:
                if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                    raise StoreError(f"{where}: {item.name} is missing", "bad-bundle")
                continue
            arguments[item.name] = _convert(hints[item.name], values[item.name], f"{where}.{item.name}")
        return kind(**arguments)
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise StoreError(f"{where}: expected a number, got {data!r}", "bad-bundle")
        return float(data)
    if kind in (int, str, bool):
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise StoreError(f"{where}: expected {kind.__name__}, got {type(data).__name__}", "bad-bundle")
        return data
    raise StoreError(f"{where}: cannot read a value of type {kind}", "bad-bundle")


def _expect(kind: type, data: Any, where: str) -> Any:
    if not isinstance(data, kind):
        raise StoreError(f"{where}: expected {kind.__name__}, got {type(data).__name__}", "bad-bundle")
    return data
