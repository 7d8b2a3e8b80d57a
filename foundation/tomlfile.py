"""TOML files checked with pydantic: read one (one `UserError` line for a missing, unreadable, non-UTF-8
or invalid file) and describe a validation failure in one line naming the key, the value found and
the type and range expected (e.g. ``max_memory = 1.5: expected an integer ≥ 16``).

Used by the training configs (`training.config`) and the settings file (`foundation.settings`).
"""
from __future__ import annotations

import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError

from foundation.errors import UserError


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _bounds(metadata: list) -> list[str]:
    parts = []
    for item in metadata:
        for attr, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol} {_number(value)}")
    return parts


def describe_type(annotation: Any, metadata: list | None = None) -> str:
    """Plain-words type and range of a field, e.g. "an integer ≥ 1", "a list of 2 numbers, each ≥ 0 and < 1"."""
    metadata = list(metadata or [])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):  # X | None: optional keys
        return " or ".join(describe_type(a, metadata) for a in args if a is not type(None))
    if origin is Annotated:
        return describe_type(args[0], metadata + list(getattr(args[1], "metadata", [])))
    if origin is Literal:
        return json.dumps(args[0]) if len(args) == 1 else "one of " + ", ".join(json.dumps(a) for a in args)
    bounds = " and ".join(_bounds(metadata))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer" + (f" {bounds}" if bounds else "")
    if annotation is float:
        return "a number" + (f" {bounds}" if bounds else "")
    if annotation is str:
        return "a string"
    if origin is list:
        lengths = {getattr(m, "min_length", None) for m in metadata} | {getattr(m, "max_length", None) for m in metadata}
        lengths.discard(None)
        element = describe_type(args[0])
        count = f"{lengths.pop()} " if len(lengths) == 1 else ""
        noun = element.split(" ", 2)[1] + "s"  # "an integer ≥ 0" → "integers"
        rest = element.split(" ", 2)[2] if element.count(" ") >= 2 else ""
        return f"a list of {count}{noun}" + (f", each {rest}" if rest else "")
    if origin is dict:
        return "a table"
    if _is_table(annotation):
        return "a table"
    return str(annotation)


def describe_field(model: type[BaseModel], key: str) -> str:
    info = model.model_fields[key]
    if info.description:
        return info.description
    return describe_type(info.annotation, info.metadata)


def toml_value(value: Any) -> str:
    """`value` as written in a TOML file (true/false, quoted strings, lists), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _locate(model: type[BaseModel], loc: tuple) -> tuple[list[str], type[BaseModel], str | None, list[str]]:
    """(tables, model of the key, key, rest) of an error location: `[tables] key`, then list
    indexes / table entries / union members in `rest`."""
    tables, owner = [], model
    for i, part in enumerate(loc):
        info = owner.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return tables, owner, None, [str(p) for p in loc[i:]]
        annotation = info.annotation
        if _is_table(annotation) and i < len(loc) - 1:
            tables.append(part)
            owner = annotation
            continue
        return tables, owner, part, [str(p) for p in loc[i + 1:]]
    return tables, owner, None, []


def _is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _name(tables: list[str], key: str) -> str:
    return f"[{'.'.join(tables)}] {key}" if tables else key


def describe_errors(err: ValidationError, model: type[BaseModel], prefix: tuple = ()) -> str:
    """One line for all the errors of a validation: key, value found, type and range expected.
    `prefix`: the tables `model` sits in (e.g. ("model",) for a `[model]` schema)."""
    messages: list[str] = []
    unknown: dict[tuple, tuple[type[BaseModel], list[str]]] = {}
    for item in err.errors():
        tables, owner, key, rest = _locate(model, tuple(item["loc"]))
        tables = list(prefix) + tables
        kind = item["type"]
        if kind == "extra_forbidden":
            unknown.setdefault(tuple(tables), (owner, []))[1].append(rest[0] if key is None else key)
            continue
        if kind == "value_error" and key is not None and _is_table(owner.model_fields[key].annotation):
            tables, key = tables + [key], None
        if key is None:  # a rule of a whole table (model validator): its own message
            text = str(item.get("ctx", {}).get("error", item["msg"]))
            messages.append(f"[{'.'.join(tables)}] {text}" if tables else text)
            continue
        annotation = owner.model_fields[key].annotation
        members = (annotation, *typing.get_args(annotation))
        if kind in ("model_type", "model_attributes_type", "dict_type") and not rest and any(
                typing.get_origin(a) is dict or _is_table(a) for a in members):
            messages.append(f"[{'.'.join(tables + [key])}] must be a table, not {toml_value(item['input'])}")
            continue
        where, expected = _name(tables, key), describe_field(owner, key)
        container = next((a for a in members if typing.get_origin(a) in (list, dict)), None)
        if rest and typing.get_origin(container) is dict:  # an entry of a table: [table] NAME = value
            where, expected = _name(tables + [key], rest[0]), describe_type(typing.get_args(container)[1])
        elif rest and rest[0].isdigit():  # an element of a list: the whole list's expectation
            where += f"[{rest[0]}]"
        message = f"{where} = {toml_value(item['input'])}: expected {expected}"
        if message not in messages:  # a union reports once per member
            messages.append(message)
    for tables, (owner, keys) in unknown.items():
        known = sorted(owner.model_fields)
        if tables:
            messages.insert(0, f"unknown key(s) {sorted(keys)} in [{'.'.join(tables)}]; known: {known}")
        else:
            messages.insert(0, f"unknown key or table {', '.join(f'[{k}]' for k in sorted(keys))}; "
                               f"known: {', '.join(known)}")
    return "; ".join(messages)


# ----------------------------------------------------------------------------- files

def read_toml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A TOML file's document; `UserError` naming the file when it is missing, unreadable, not
    UTF-8 or not TOML."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, expected a TOML file" if path.is_dir() else f"{what} file not found"
        raise UserError(f"{path}: {problem}" + (" (see configs/*.toml)" if what == "config" else ""))
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read the {what} file ({err.strerror or err})") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise UserError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
                        f"save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err})") from None
