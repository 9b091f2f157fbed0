"""Row building names the records of a batch it cannot build, and that answer crosses the storage pipe."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from gateway.storage import rows as rows_module
from gateway.storage.writer import RowsNotBuilt, build_tables
from gateway.wire import pb
from tests.storage.journal_records import Register


def test_a_batch_that_fails_names_each_failing_record(monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad = Register("KKM-A"), Register("KKM-BAD")
    records = [*good.shift(1, 2, 1), *bad.shift(1, 2, 1)]
    raw = [r.SerializeToString() for r in records]
    assert set(build_tables(raw, None)) >= {"events", "receipts"}
    real = rows_module._receipt_record

    def drifted(batch: Any, record: pb.JournalRecord, *args: Any) -> None:
        if record.envelope.device_id == "KKM-BAD":
            raise KeyError("vat_rate")
        real(batch, record, *args)

    monkeypatch.setattr(rows_module, "_receipt_record", drifted)
    with pytest.raises(RowsNotBuilt) as caught:
        build_tables(raw, None)
    assert caught.value.failures == [(5, "KeyError", "'vat_rate'"), (6, "KeyError", "'vat_rate'")]
    crossed = pickle.loads(pickle.dumps(caught.value))  # the storage process sends it back pickled
    assert isinstance(crossed, RowsNotBuilt) and crossed.failures == caught.value.failures


def test_undecodable_bytes_are_a_failing_record() -> None:
    raw = [Register().shift(1, 1, 1)[0].SerializeToString(), b"\xff\xff\xff"]
    with pytest.raises(RowsNotBuilt) as caught:
        build_tables(raw, None)
    assert [index for index, _, _ in caught.value.failures] == [1]
