"""The published OFD frames of ../shared/data/ofd, and their decoded meaning in the form its README uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from gateway.ofd.framing import encode_varint

FRAMES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "ofd"


def frames_dir() -> Path:
    """The directory of the published frames; fails (never skips) a test when it is missing."""
    assert FRAMES_DIR.is_dir(), f"the published OFD frames are missing: {FRAMES_DIR} (see its README)"
    return FRAMES_DIR


def frame(name: str) -> bytes:
    """The raw bytes of one published frame."""
    return (frames_dir() / f"{name}.bin").read_bytes()


def expected(name: str) -> dict[str, Any]:
    """Its decoded meaning, as published."""
    result: dict[str, Any] = json.loads((frames_dir() / f"{name}.expected.json").read_text("utf-8"))
    return result


def spec(name: str) -> dict[str, Any]:
    """The input a derived frame was built from."""
    result: dict[str, Any] = json.loads((frames_dir() / f"{name}.spec.json").read_text("utf-8"))
    return result


def as_published(message: Message) -> dict[str, Any]:
    """A message in the README's form: fields present, enums by name, bytes as {hex, utf8}, unknown fields
    (which the 2.0.3 schema does not know) under `_unknown` as {field, wire, hex of tag + value}."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    unknown = [
        {"field": f.field_number, "wire": f.wire_type,
         "hex": _unknown_hex(f.field_number, f.wire_type, f.data)}
        for f in UnknownFieldSet(message)
    ]
    if unknown:
        out["_unknown"] = unknown
    return out


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return as_published(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    if field.type == FieldDescriptor.TYPE_BYTES:
        return {"hex": value.hex(), "utf8": value.decode("utf-8", "replace")}
    return value


def _unknown_hex(number: int, wire: int, data: Any) -> str:
    tag = encode_varint(number << 3 | wire)
    if wire == 0:
        return (tag + encode_varint(data)).hex()
    if wire == 2:
        return (tag + encode_varint(len(data)) + data).hex()
    raise AssertionError(f"no published frame has an unknown field of wire type {wire}")

