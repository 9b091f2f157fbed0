"""The in-memory status index: compact arrays, later additions, undo, collisions, memory per code."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.codes.status_index import KNOWN, STATUS_CODE, StatusIndex, _Directory, cis_key

CIS_A = "0104870101000027214q+D2h"
CIS_B = "010487010100002721ABC1234"


def base_index(extra_keys: int = 1000) -> StatusIndex:
    """An index bulk-loaded with CIS_A (owner 1, expiry 20000) and random other keys."""
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, extra_keys, dtype=np.uint64)
    keys = np.concatenate([keys, np.array([cis_key(CIS_A)], np.uint64)])
    status = np.full(len(keys), STATUS_CODE["introduced"], np.uint8)
    owner = np.ones(len(keys), np.uint32)
    expiry = np.full(len(keys), 20_000, np.uint16)
    index = StatusIndex()
    index.load_base(keys, status, owner, expiry, ["", "080740000019"])
    return index


def test_bulk_loaded_code_reads_back() -> None:
    index = base_index()
    state = index.state(CIS_A)
    assert state is not None and state.known and state.status == "introduced"
    assert state.owner_tin == "080740000019" and state.expires_day == 20_000 and not state.sold
    assert index.state(CIS_B) is None


def test_sale_return_and_undo() -> None:
    index = base_index()
    before = index.record_sale(CIS_A, "080740000019", "ALA-1")
    sold = index.state(CIS_A)
    assert sold is not None and sold.sold and sold.last_store_id == "ALA-1" and sold.known
    index.set_raw(CIS_A, before)
    assert not index.state(CIS_A).sold  # type: ignore[union-attr]
    index.record_sale(CIS_A, "080740000019", "ALA-1")
    index.record_return(CIS_A)
    back = index.state(CIS_A)
    assert back is not None and not back.sold and back.returned


def test_unknown_code_sold_is_remembered_and_undo_forgets_it() -> None:
    index = base_index()
    previous = index.record_sale(CIS_B, "1", "S")
    assert previous is None
    state = index.state(CIS_B)
    assert state is not None and state.sold and not state.known
    index.set_raw(CIS_B, previous)
    assert index.state(CIS_B) is None


def test_registry_update_keeps_what_sales_did() -> None:
    index = base_index()
    index.record_sale(CIS_A, "1", "S")
    index.put_registry(CIS_A, "blocked", "2", 0)
    state = index.state(CIS_A)
    assert state is not None and state.sold and state.status == "blocked" and state.owner_tin == "2"


def test_compaction_merges_later_codes_into_the_arrays() -> None:
    index = base_index(extra_keys=10)
    codes = [f"010487010100002721S{i:06d}" for i in range(200)]
    for number, code in enumerate(codes):
        index.put_registry(code, "introduced", f"owner{number % 3}", number)
    index.record_sale(codes[5], "1", "S")
    assert index.compact(min_extra=100)
    assert len(index) == 211 and 211 * 20 < index.nbytes() <= 211 * 23
    state = index.state(codes[5])
    assert state is not None and state.sold and state.owner_tin == "owner2" and state.expires_day == 5
    assert index.state(codes[199]).expires_day == 199  # type: ignore[union-attr]


def test_two_cis_sharing_a_key_are_kept_apart() -> None:
    index = base_index()
    # A real 64-bit collision cannot be built here; the loader hands both cis over by name when it sees one.
    index.add_ambiguous(CIS_A, (STATUS_CODE["blocked"], index.owners.intern("9"), 0, KNOWN, 0))
    index.add_ambiguous(CIS_B, (STATUS_CODE["introduced"], index.owners.intern("8"), 0, KNOWN, 0))
    assert index.state(CIS_A).status == "blocked"  # type: ignore[union-attr]
    assert index.state(CIS_B).owner_tin == "8"  # type: ignore[union-attr]
    index.record_sale(CIS_B, "8", "S")
    assert index.state(CIS_B).sold and not index.state(CIS_A).sold  # type: ignore[union-attr]


def test_moves_loaded_in_bulk() -> None:
    index = base_index()
    keys = np.array([cis_key(CIS_A), cis_key(CIS_B)], np.uint64)
    index.load_moves(keys, np.array([True, False]), np.array([0, 1], np.uint32), ["7\x1fALA-1", "8\x1fAST-2"])
    a, b = index.state(CIS_A), index.state(CIS_B)
    assert a is not None and a.sold and a.known and (a.last_seller_tin, a.last_store_id) == ("7", "ALA-1")
    assert b is not None and not b.sold and b.returned and not b.known


def test_at_most_twenty_two_bytes_a_code() -> None:
    index = base_index(extra_keys=999_999)
    assert len(index) == 1_000_000
    assert 20 * 1_000_000 < index.nbytes() <= 22 * 1_000_000  # 20 in columns, 1-2 in the directory


@pytest.mark.parametrize("count", [0, 1, 3, 1_000, 50_000])
def test_directory_finds_exactly_the_keys_it_holds(count: int) -> None:
    rng = np.random.default_rng(count)
    top = np.iinfo(np.uint64).max
    edges = np.array([0, 1, top - 1, top], np.uint64)[: min(count, 4)]
    keys = np.unique(np.concatenate([edges, rng.integers(0, top, count - len(edges), dtype=np.uint64,
                                                          endpoint=True)]))
    directory = _Directory(keys)
    absent = np.setdiff1d(np.concatenate([np.array([0, 1, 2, top - 1, top], np.uint64),
                                          rng.integers(0, top, 2_000, dtype=np.uint64, endpoint=True)]), keys)
    assert [directory.find(key) for key in keys.tolist()] == list(range(len(keys)))
    assert {directory.find(key) for key in absent.tolist()} <= {-1}


def test_locate_answers_as_a_code_by_code_lookup() -> None:
    codes = [f"010487010100002721S{i:06d}" for i in range(3_000)]
    keys = np.array([cis_key(code) for code in codes[:2_000]], np.uint64)
    index = StatusIndex()
    status = np.full(len(keys), STATUS_CODE["introduced"], np.uint8)
    index.load_base(keys, status, np.ones(len(keys), np.uint32), np.zeros(len(keys), np.uint16), ["", "1"])
    slots = index.locate(codes[1_500:2_500])
    for code in codes[1_500:2_500]:
        state = index.state(code, slots[code])
        assert (state is not None) == (code in codes[:2_000]) == (slots[code][1] >= 0)
        assert state == index.state(code)


def test_unmove_reverses_one_move_and_keeps_what_happened_since() -> None:
    index = StatusIndex()
    index.put_registry("CIS-A", "introduced", "OWNER", 0)
    before = index.raw("CIS-A")
    after = index.sold("CIS-A", None, before, "S1", "store-1")
    index.put_registry("CIS-A", "blocked", "OWNER", 0)  # the registry changed meanwhile
    assert index.unmove("CIS-A", before, after)
    state = index.state("CIS-A")
    assert state is not None and not state.sold and state.status == "blocked"
    # Another device's sale on top of a move being reversed stays.
    first = index.sold("CIS-A", None, index.raw("CIS-A"), "S1", "store-1")
    index.sold("CIS-A", None, index.raw("CIS-A"), "S2", "store-2")
    assert not index.unmove("CIS-A", before, first)
    state = index.state("CIS-A")
    assert state is not None and state.sold and state.last_store_id == "store-2"
    # An unknown code first seen by a reversed sale is forgotten again.
    unknown = index.sold("CIS-NEW", None, None, "S1", "store-1")
    assert index.unmove("CIS-NEW", None, unknown) and index.state("CIS-NEW") is None
