"""Marking codes in ClickHouse: registry import (idempotent), code_events, code_status, index load."""

from __future__ import annotations

import getpass
import io
import json
import random
from pathlib import Path

import pytest

from firmware_sim.catalog import default_catalog, marking_code
from gateway.cli.codes_import import StorageSink, import_stream
from gateway.codes.parser import validate_code
from gateway.codes.registry_file import RegistryRowError, read_registry
from gateway.codes.status_index import CIS_KEY_SQL, cis_key
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.code_registry_store import insert_registry_rows, load_status_index
from gateway.storage.rows import build_rows
from gateway.wire import pb
from tests.storage.journal_records import T0_MS, Register

pytestmark = pytest.mark.clickhouse
_TOBACCO = next(g for g in default_catalog() if g.marking_group == "tobacco")


def codes(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [marking_code(_TOBACCO, rng) for _ in range(count)]


def cis(code: str) -> str:
    found = validate_code(code).cis
    assert found
    return found


def rows_of(text: str) -> list:  # type: ignore[type-arg]
    return list(read_registry(io.BytesIO(text.encode())))


def query(storage: Storage, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    return storage.run_sync(lambda c: c.query(sql.format(db=storage.database)).result_rows)


def test_python_key_equals_the_sql_key(storage: Storage) -> None:
    value = "0104870101000027214q+D2h"
    sql = CIS_KEY_SQL.format(column=f"'{value}'")
    assert query(storage, f"SELECT {sql}")[0][0] == cis_key(value)


def test_csv_with_gs_inside_codes_and_bad_rows(tmp_path: Path) -> None:
    good = codes(2)
    text = "code;owner_tin;status;expires_on\n"
    text += "".join(f"{c};080740000019;blocked;2026-01-31\n" for c in good)
    text += "0104870101000028;1;introduced;\n"  # wrong check digit
    text += f"{good[0]};1;sold;\n"  # no such status
    parsed = rows_of(text)
    assert [type(r).__name__ for r in parsed] == ["RegistryRow", "RegistryRow", "RegistryRowError",
                                                  "RegistryRowError"]
    row = parsed[0]
    assert row.raw_code == good[0] and "\x1d" in row.raw_code and row.cis == cis(good[0])
    assert row.status == "blocked" and row.expires_on.isoformat() == "2026-01-31" and row.product_group
    assert isinstance(parsed[2], RegistryRowError) and parsed[2].line == 4


def test_json_lines_with_cis_only() -> None:
    code = codes(1)[0]
    record = json.dumps({"cis": cis(code), "owner": "1", "group": "tobacco"})
    parsed = rows_of(record + '\n\n{"cis": "01123"}\n')
    assert parsed[0].cis == cis(code) and parsed[0].status == "introduced" and parsed[0].raw_code == ""
    assert isinstance(parsed[1], RegistryRowError)


def test_import_is_idempotent_and_chunks_deduplicate(settings: Settings, storage: Storage) -> None:
    text = "".join(json.dumps({"code": c, "owner_tin": "1"}) + "\n" for c in codes(25))
    send = StorageSink(settings, version=5)
    try:
        imported, rejected = import_stream(io.BytesIO(text.encode()), send, chunk_rows=10, progress=None)
        again, _ = import_stream(io.BytesIO(text.encode()), send, chunk_rows=10, progress=None)
        send.audit(imported, rejected)
    finally:
        send.close()
    assert (imported, rejected, again) == (25, 0, 25)
    # An import made on the data directory itself is audited like one through the gateway.
    audited = query(storage, "SELECT principal, action, target, detail, remote FROM {db}.audit_log")
    assert audited == [(f"local:{getpass.getuser()}", "registry_imported", "import 5", "25 rows, 0 rejected",
                        "local")]
    # Same rows, same version: the dedup tokens drop the second run's chunks entirely.
    assert query(storage, "SELECT count() FROM {db}.code_registry")[0][0] == 25
    rows = [r for r in rows_of(text) if not isinstance(r, RegistryRowError)]
    storage.run_sync(lambda c: insert_registry_rows(c, storage.database, rows, 6))  # a later import
    assert query(storage, "SELECT count() FROM {db}.code_registry FINAL")[0][0] == 25


def test_index_loads_registry_and_last_moves(storage: Storage) -> None:
    registered = codes(4, seed=2)
    text = "code,owner_tin,status,expires_on\n" + "\n".join(
        f"{c},080740000019,{s},{e}" for c, s, e in zip(
            registered, ["introduced", "blocked", "introduced", "retired"], ["", "", "2027-03-01", ""],
            strict=True)
    )
    rows = [r for r in rows_of(text) if not isinstance(r, RegistryRowError)]
    storage.run_sync(lambda c: insert_registry_rows(c, storage.database, rows, 1))
    unknown = codes(1, seed=3)[0]
    register = Register(seller_tin="080740000019", store_id="ALA-1")

    def receipt(code_list: list[str], operation: int) -> pb.Event:
        lines = [pb.ReceiptLine(name="x", quantity=1000, marking_codes=[c]) for c in code_list]
        return pb.Event(time_ms=register.tick(), receipt=pb.Receipt(operation=operation, lines=lines))

    def verdicts(code_list: list[str], verdict: str) -> list[pb.CodeVerdictRecord]:
        return [pb.CodeVerdictRecord(line=n, cis=cis(c), verdict=verdict) for n, c in enumerate(code_list, 1)]

    sale = register.accepted(receipt([registered[0], registered[2], unknown], pb.SELL))
    sale.code_verdicts.extend(verdicts([registered[0], registered[2], unknown], "valid"))
    back = register.accepted(receipt([registered[2]], pb.SELL_RETURN))
    back.code_verdicts.extend(verdicts([registered[2]], "returned"))
    batch = build_rows([sale, back])["code_events"]
    storage.run_sync(lambda c: c.insert("code_events", batch.data(), column_names=batch.column_names(),
                                        database=storage.database, column_oriented=True))
    index = storage.run_sync(lambda c: load_status_index(c, storage.database))
    sold, blocked, returned, retired = (index.state(cis(c)) for c in registered)
    assert sold is not None and sold.sold and sold.last_store_id == "ALA-1"
    assert sold.owner_tin == "080740000019"
    assert blocked is not None and blocked.status == "blocked" and not blocked.sold
    assert returned is not None and returned.returned and not returned.sold and returned.expires_day > 20_000
    assert retired is not None and retired.status == "retired"
    stranger = index.state(cis(unknown))
    assert stranger is not None and stranger.sold and not stranger.known
    status = query(storage, "SELECT cis, last_kind, sold, sales, returns FROM {db}.code_status ORDER BY cis")
    by_cis = {row[0]: row[1:] for row in status}
    assert by_cis[cis(registered[2])] == ("return", False, 1, 1)
    assert by_cis[cis(registered[0])] == ("sale", True, 1, 0)
    assert T0_MS  # journal_records clock in use
