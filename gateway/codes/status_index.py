"""In-memory status of every known marking code: compact numpy columns keyed by a 64-bit hash of cis.

Ten million codes must fit: a dict of Python objects costs ~200 bytes a code, these columns 20 bytes
(key 8; one packed word 8: owner id, expiry day, flags, status; last store 4) and a directory 1-2.
Bulk-loaded codes live in sorted arrays; codes added later (imports, unknown codes seen on sales) live
in a small dict merged into the arrays once it grows. The directory (the first position of each range of
the key's top bits, ~4 keys a range) turns a lookup into two or three memory reads, where a binary
search over ten million keys makes ~24 dependent ones, each a cache and TLB miss. Lookups are plain
Python over memoryviews, not numpy calls: numpy lets go of the GIL in a search, and on a busy gateway
taking it back from the journal and verify threads cost ~100 µs of CPU a request. Two different
cis with one 64-bit key are found when the index is built from ClickHouse (exactly, there) and kept by
their full cis in a side dict; an unknown cis whose key equals a known one's (chance about n / 2**64 per
lookup) would read its state.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

STATUSES = ("", "emitted", "applied", "introduced", "retired", "withdrawn", "written_off", "blocked")
STATUS_CODE = {name: number for number, name in enumerate(STATUSES)}
KNOWN, SOLD, RETURNED = 1, 2, 4  # flag bits: in the registry; last move a sale; last move a return
MOVED = SOLD | RETURNED
# The same key computed by ClickHouse, so the index loads keys without hashing ten million strings here.
CIS_KEY_SQL = "reinterpretAsUInt64(substring(SHA256({column}), 1, 8))"

Entry = tuple[int, int, int, int, int]  # status, owner id, expiry day (0 none), flags, last store id
Slot = tuple[int, int]  # (cis key, position in the sorted base arrays or -1): what locate() found
U64 = npt.NDArray[np.uint64]


def cis_key(cis: str) -> int:
    """The 64-bit key of a cis: the first 8 bytes of its SHA-256, little-endian (as CIS_KEY_SQL)."""
    return int.from_bytes(hashlib.sha256(cis.encode()).digest()[:8], "little")


class Interner:
    """Small ints for repeated strings (owner TINs, stores); id 0 is the empty string."""

    def __init__(self, values: list[str] | None = None) -> None:
        self._values = [""]
        self._ids = {"": 0}
        for value in values or []:
            self.intern(value)

    def intern(self, value: str) -> int:
        """The id of value, adding it if new."""
        found = self._ids.get(value)
        if found is None:
            found = self._ids[value] = len(self._values)
            self._values.append(value)
        return found

    def value(self, number: int) -> str:
        """The string of an id."""
        return self._values[number]

    def __len__(self) -> int:
        return len(self._values)


@dataclass(slots=True)
class CodeState:
    """What the gateway knows about one code right now (a snapshot: changing it changes nothing).

    Not frozen: one is made per marking code on the ingest path, and a frozen dataclass's __init__ costs
    ~3x (object.__setattr__ per field).
    """

    known: bool  # in the operator's registry
    status: str  # registry status, '' when unknown
    owner_tin: str
    expires_day: int  # days since 1970-01-01, 0 when the registry gives no expiry
    sold: bool  # its last sale was not followed by a return
    returned: bool  # its last move was a return
    last_seller_tin: str
    last_store_id: str


_STORE_SEP = "\x1f"


def _pack(status: int, owner: int, expiry: int, flags: int) -> int:
    return owner << 32 | expiry << 16 | flags << 8 | status


class StatusIndex:
    """cis → compact status; every method is synchronous and cheap (called on the event loop)."""

    def __init__(self) -> None:
        self._directory = _Directory(np.empty(0, np.uint64))
        # One word a code, one numpy read a lookup: owner id << 32 | expiry << 16 | flags << 8 | status.
        self._values: U64 = np.empty(0, np.uint64)
        self._store = np.empty(0, np.uint32)
        self._extra: dict[int, Entry] = {}
        self._ambiguous: set[int] = set()
        self._exact: dict[str, Entry] = {}
        self.owners = Interner()
        self.stores = Interner()

    # ── bulk building ──

    def load_base(
        self, keys: U64, status: npt.NDArray[np.uint8], owner: npt.NDArray[np.uint32],
        expiry: npt.NDArray[np.uint16], owners: list[str],
    ) -> None:
        """Replace the arrays with these registry codes (owner ids index `owners`, whose id 0 is '')."""
        order = np.argsort(keys, kind="stable")
        self._set_keys(keys[order])
        values = owner[order].astype(np.uint64) << np.uint64(32)
        values |= expiry[order].astype(np.uint64) << np.uint64(16)
        values |= np.uint64(KNOWN << 8)
        values |= status[order].astype(np.uint64)
        self._values = values
        self._store = np.zeros(len(keys), np.uint32)
        self.owners = Interner(owners[1:] if owners and owners[0] == "" else owners)
        self._extra.clear()

    def add_ambiguous(self, cis: str, entry: Entry) -> None:
        """Keep a code whose key another cis shares by its full cis (found when loading)."""
        key = cis_key(cis)
        self._ambiguous.add(key)
        self._exact[cis] = entry
        position = self._directory.find(key)
        if position >= 0:  # never answer for the shared key from the arrays again
            self._values[position] = 0

    def load_moves(self, keys: U64, sold: npt.NDArray[np.bool_], stores: npt.NDArray[np.uint32],
                   store_names: list[str]) -> None:
        """Set each code's last sale/return (from code_events); codes not in the registry are added."""
        remap = np.array([self.stores.intern(name) for name in store_names] or [0], np.uint32)
        positions = np.searchsorted(self._keys, keys)
        inside = positions < len(self._keys)
        found = np.zeros(len(keys), bool)
        found[inside] = self._keys[positions[inside]] == keys[inside]
        at = positions[found]
        moved = np.where(sold[found], SOLD, RETURNED).astype(np.uint64) << np.uint64(8)
        kept = self._values[at] & ~np.uint64(0xFF00 ^ (KNOWN << 8))  # keep KNOWN, clear SOLD/RETURNED
        self._values[at] = kept | moved
        self._store[at] = np.where(sold[found], remap[stores[found]], self._store[at])
        for key, is_sold, store in zip(keys[~found].tolist(), sold[~found].tolist(),
                                       stores[~found].tolist(), strict=True):
            self._extra[key] = (0, 0, 0, SOLD if is_sold else RETURNED, int(remap[store]) if is_sold else 0)

    # ── lookups and updates ──

    @property
    def _keys(self) -> U64:
        """The sorted keys of the base arrays (the directory's)."""
        return self._directory.keys

    def _set_keys(self, keys: U64) -> None:
        self._directory = _Directory(np.ascontiguousarray(keys, dtype=np.uint64))

    def locate(self, codes: Iterable[str]) -> dict[str, Slot]:
        """Key and base-array position of each cis.

        A slot stays valid until the arrays are rebuilt (load_base, compact): use it at once, on the loop.
        """
        find = self._directory.find
        slots = {}
        for cis in codes:
            if cis not in slots:
                key = cis_key(cis)
                slots[cis] = (key, find(key))
        return slots

    def _slot(self, cis: str, slot: Slot | None) -> Slot:
        if slot is not None:
            return slot
        key = cis_key(cis)
        return key, self._directory.find(key)

    def raw(self, cis: str, slot: Slot | None = None) -> Entry | None:
        """The stored entry of a code, or None (slot: from locate(), saves the hash and the search)."""
        key, position = self._slot(cis, slot)
        if key in self._ambiguous:
            return self._exact.get(cis)
        found = self._extra.get(key)
        if found is not None:
            return found
        if position < 0:
            return None
        value: int = self._values.item(position)
        return (value & 0xFF, value >> 32, (value >> 16) & 0xFFFF, (value >> 8) & 0xFF,
                self._store.item(position))

    def set_raw(self, cis: str, entry: Entry | None, slot: Slot | None = None) -> None:
        """Store (or, with None, forget) a code's entry; used for updates and to undo them."""
        key, position = self._slot(cis, slot)
        if key in self._ambiguous:
            if entry is None:
                self._exact.pop(cis, None)
            else:
                self._exact[cis] = entry
            return
        if key in self._extra:
            position = -1
        if position < 0:
            if entry is None:
                self._extra.pop(key, None)
            else:
                self._extra[key] = entry
            return
        if entry is None:  # base codes are never forgotten, only reset
            entry = (0, 0, 0, 0, 0)
        status, owner, expiry, flags, store = entry
        self._values[position] = _pack(status, owner, expiry, flags)
        self._store[position] = store

    def state(self, cis: str, slot: Slot | None = None) -> CodeState | None:
        """What is known about a code, or None if nothing (not in the registry, never seen)."""
        return self.state_of(self.raw(cis, slot))

    def state_of(self, entry: Entry | None) -> CodeState | None:
        """The CodeState of an entry raw() returned (None: nothing known)."""
        if entry is None:
            return None
        status, owner, expiry, flags, store = entry
        seller, _, store_id = self.stores.value(store).partition(_STORE_SEP)
        # Positional, in field order (known, status, owner_tin, expires_day, sold, returned, last seller,
        # last store): keywords cost twice as much.
        return CodeState(
            bool(flags & KNOWN), STATUSES[status], self.owners.value(owner), expiry, bool(flags & SOLD),
            bool(flags & RETURNED), seller, store_id,
        )

    def put_registry(self, cis: str, status: str, owner_tin: str, expires_day: int) -> None:
        """Add or update a registry code; what sales and returns did to it is kept."""
        old = self.raw(cis)
        flags, store = (old[3], old[4]) if old is not None else (0, 0)
        owner = self.owners.intern(owner_tin)
        self.set_raw(cis, (STATUS_CODE[status], owner, expires_day, flags | KNOWN, store))

    def record_sale(self, cis: str, seller_tin: str, store_id: str, slot: Slot | None = None) -> Entry | None:
        """The code is sold (retired) at this store; returns the entry before, to undo with set_raw."""
        slot = self._slot(cis, slot)
        old = self.raw(cis, slot)
        self.sold(cis, slot, old, seller_tin, store_id)
        return old

    def sold(self, cis: str, slot: Slot | None, old: Entry | None, seller_tin: str, store_id: str) -> Entry:
        """record_sale, given the entry raw() has just read at slot (the ingest path reads it once); returns
        the entry it stored."""
        status, owner, expiry, flags, _ = old if old is not None else (0, 0, 0, 0, 0)
        store = self.stores.intern(seller_tin + _STORE_SEP + store_id)
        entry = (status, owner, expiry, (flags & KNOWN) | SOLD, store)
        self.set_raw(cis, entry, slot)
        return entry

    def record_return(self, cis: str, slot: Slot | None = None) -> Entry | None:
        """The code came back (in circulation again); returns the entry before, to undo with set_raw."""
        slot = self._slot(cis, slot)
        old = self.raw(cis, slot)
        self.returned(cis, slot, old)
        return old

    def returned(self, cis: str, slot: Slot | None, old: Entry | None) -> Entry:
        """record_return, given the entry raw() has just read at slot; returns the entry it stored."""
        status, owner, expiry, flags, _ = old if old is not None else (0, 0, 0, 0, 0)
        entry = (status, owner, expiry, (flags & KNOWN) | RETURNED, 0)
        self.set_raw(cis, entry, slot)
        return entry

    def unmove(self, cis: str, before: Entry | None, after: Entry) -> bool:
        """Reverse one sale or return that turned `before` into `after`, if the code still shows that move;
        what changed since in the registry's columns is kept. False when a later move has replaced it.

        Not a restore of `before`: the index is shared by every device, so between the move and its
        reversal another device may have moved the code (its move stays) or the registry changed.
        """
        current = self.raw(cis)
        if current is None or (current[3] & MOVED, current[4]) != (after[3] & MOVED, after[4]):
            return False
        status, owner, expiry, flags, _ = current
        if before is None and not flags & KNOWN:
            self.set_raw(cis, None)  # an unknown code first seen by the refused sale: forgotten again
            return True
        moved, store = (before[3] & MOVED, before[4]) if before is not None else (0, 0)
        self.set_raw(cis, (status, owner, expiry, (flags & ~MOVED) | moved, store))
        return True

    def compact(self, min_extra: int = 100_000) -> bool:
        """Merge the dict of later additions into the sorted arrays once it is large; True if merged."""
        if len(self._extra) < max(min_extra, len(self._keys) // 10):
            return False
        items = sorted(self._extra.items())
        extra_keys = np.fromiter((k for k, _ in items), np.uint64, len(items))
        extra_values = np.fromiter((_pack(e[0], e[1], e[2], e[3]) for _, e in items), np.uint64, len(items))
        extra_stores = np.fromiter((e[4] for _, e in items), np.uint32, len(items))
        keys = np.concatenate([self._keys, extra_keys])
        order = np.argsort(keys, kind="stable")
        self._set_keys(keys[order])
        self._values = np.concatenate([self._values, extra_values])[order]
        self._store = np.concatenate([self._store, extra_stores])[order]
        self._extra.clear()
        return True

    def __len__(self) -> int:
        return len(self._keys) + len(self._extra) + len(self._exact)

    def nbytes(self) -> int:
        """Bytes held by the arrays (the dicts of later additions not counted)."""
        arrays = (self._directory.padded, self._directory.starts, self._values, self._store)
        return sum(int(a.nbytes) for a in arrays)


class _Directory:
    """Sorted keys with the first position of each range of their top `bits` bits, ~4 keys a range.

    A key's range is found by a shift and one read, its position by a binary search over the range's few
    keys (at most `width`, the largest range, from its start). The keys are padded with `width` copies of
    the largest uint64 so that no search runs past them. Keys after the range are of a later range, so larger
    than the one sought: a search that ends on one has not found it.
    """

    KEYS_A_RANGE = 4

    def __init__(self, keys: U64) -> None:
        count = len(keys)
        bits = min(32, max(1, int(np.ceil(np.log2(max(count, 2) / self.KEYS_A_RANGE)))))
        self._shift = 64 - bits
        firsts = np.arange(2**bits, dtype=np.uint64) << np.uint64(self._shift)
        self.starts = keys.searchsorted(firsts).astype(np.int32 if count < 2**31 else np.int64)
        self.width = max(1, int(np.diff(np.append(self.starts, count)).max()))
        self.padded: U64 = np.concatenate([keys, np.full(self.width, np.iinfo(np.uint64).max, np.uint64)])
        self.keys: U64 = self.padded[:count]
        self._count = count
        self._starts_view = self.starts.data
        self._padded_view = self.padded.data

    def find(self, key: int) -> int:
        """The position of key in the sorted keys, -1 when it is not there."""
        start: int = self._starts_view[key >> self._shift]
        position = bisect_left(self._padded_view, key, start, start + self.width)
        return position if position < self._count and self._padded_view[position] == key else -1
