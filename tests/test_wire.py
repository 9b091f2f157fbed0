"""The committed protobuf code matches proto/, and the signing rules hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.wire import codegen, signing


def test_generated_code_matches_proto_sources(tmp_path: Path) -> None:
    codegen.generate(tmp_path)
    here = Path(codegen.__file__).parent
    for name in codegen.GENERATED:
        assert (tmp_path / name).read_text() == (here / name).read_text(), (
            f"{name} is stale: run `make proto` and commit the result"
        )


def test_signature_covers_every_preimage_field() -> None:
    key = signing.new_private_key()
    event = b"\x08\x01"
    base = ("KKM-1", 7, signing.genesis_hash("KKM-1"), event)
    signature = signing.sign(key, signing.event_preimage(*base))
    assert signing.verify_signature(key.public_key(), signing.event_preimage(*base), signature)
    altered = [
        ("KKM-2", 7, base[2], event),
        ("KKM-1", 8, base[2], event),
        ("KKM-1", 7, bytes(32), event),
        ("KKM-1", 7, base[2], event + b"\x00"),
    ]
    for fields in altered:
        assert not signing.verify_signature(key.public_key(), signing.event_preimage(*fields), signature)


def test_genesis_differs_per_device_and_preimage_rejects_bad_hash_length() -> None:
    assert signing.genesis_hash("A") != signing.genesis_hash("B")
    with pytest.raises(ValueError):
        signing.event_preimage("A", 1, b"short", b"")


def test_genesis_value_documented_in_proto_readme() -> None:
    readme = (Path(codegen.__file__).parents[2] / "proto" / "README.md").read_text()
    assert signing.genesis_hash("KKM-1").hex() in readme
