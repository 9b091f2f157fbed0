"""Receipts staged for ClickHouse's views store exactly the rows Python builds, and a resend adds none."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.security.ai_label import ai_source_of
from gateway.security.buyer_data import protect_record
from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.client import Storage
from gateway.storage.columns import MAX_TIME_MS
from gateway.storage.migrations import apply_migrations
from gateway.storage.rows import TABLES
from gateway.storage.staged_rows import STAGE_COLUMNS, STAGE_TABLE, VIEW_TABLES, schema_file, view_statements
from gateway.storage.writer import InsertCounts, build_tables, insert_tables
from gateway.wire import pb
from tests.storage.journal_records import T0_MS, Register, migrated_storage, sell_receipt, storage_settings

ALGO = "ai/1;src=algorithmicMedia"
LABELS = [
    "", "ai/1;src=trainedAlgorithmicMedia", "ai/1;src=compositeSynthetic;tool=gen-2.1;by=123456789012",
    "ai/1;tool=x;src=algorithmicMedia;x-batch=7", f"{ALGO};src=algorithmicMedia", "ai/1;src=unknownMedia",
    "ai/1", "ai/1;", "ai/2;src=algorithmicMedia", "ai/1;src=", "ai/1;Src=algorithmicMedia",
    "ai/1;colour=red;src=algorithmicMedia", f"{ALGO};x-=1", f"{ALGO}\n", "ai/1;tool=x\n;src=algorithmicMedia",
    f"{ALGO};tool=" + "a" * 65, f"{ALGO};tool=" + "a" * 64, f"{ALGO};tool=a b", f"{ALGO};tool=ä",
    f"{ALGO};" + ";".join(f"x-k{i}=v" for i in range(40)), f"{ALGO};x-src=trainedAlgorithmicMedia",
    "ai/1;x-a-b=1;src=compositeSynthetic", f"{ALGO};tool=a=b", "ai/1;;src=algorithmicMedia",
]
SOURCES = {label: ai_source_of(label) for label in LABELS}
pytestmark = pytest.mark.clickhouse


def _line(rng: random.Random, i: int) -> pb.ReceiptLine:
    price = rng.randrange(1, 10**7)
    taxes = rng.choice([
        [pb.Tax(tax_type=100, rate_bp=1200, sum=price * 12 // 112)],
        [],
        [pb.Tax(tax_type=7, rate_bp=300, sum=11), pb.Tax(tax_type=100, rate_bp=1600, sum=99),
         pb.Tax(tax_type=100, rate_bp=1200, sum=5)],
        [pb.Tax(tax_type=7, rate_bp=300, sum=11)],
    ])
    return pb.ReceiptLine(
        name=rng.choice([f"Item {i}", "Сүт 1л", "", "x" * 300]), gtin=rng.choice(["", f"0460000000{i:04d}"]),
        quantity=rng.randrange(-5000, 10**6), price=price, discount=rng.randrange(0, 100),
        markup=rng.randrange(0, 100), sum=rng.randrange(-(2**40), 2**40), taxes=taxes,
        marking_codes=[f"0104600000{i:04d}21S{rng.randrange(10**9)}\x1d93ab" for _ in range(rng.randrange(3))
                       ],
        code_check_id=rng.choice(["", f"chk-{i}"]), ai_label=rng.choice(LABELS),
        # What OFD registers send (gateway/ofd/documents.py): storno lines and their own fields.
        storno=rng.random() < 0.2, section_code=rng.choice(["", "1", "Бакалея"]),
        ntin=rng.choice(["", "0200000012345"]), physical_label=rng.choice(["", "АА 1234567"]),
        product_id=rng.choice(["", "ESF-77"]), unit=rng.choice(["", "796", "166"]),
    )


def _adjustment(rng: random.Random) -> pb.Adjustment:
    taxes = rng.choice([[], [pb.Tax(tax_type=100, rate_bp=1200, sum=rng.randrange(0, 500))]])
    return pb.Adjustment(sum=rng.randrange(-5, 10**6), taxes=taxes, name=rng.choice(["", "Скидка"]))


def _receipt(rng: random.Random, n: int) -> pb.Receipt:
    receipt = pb.Receipt(
        operation=rng.choice([pb.SELL, pb.SELL, pb.SELL_RETURN, pb.BUY, pb.BUY_RETURN, 0, 99]),
        shift_number=rng.randrange(1, 500), document_number=n, shift_document_number=rng.randrange(0, 10**6),
        cashier=rng.choice(["Aigerim", "", "Ерлан"]),
        lines=[_line(rng, i) for i in range(rng.randrange(0, 8))],
        payments=[pb.Payment(type=rng.choice([1, 2, 3, 4, 5, 0, 9]), sum=rng.randrange(0, 10**8))
                  for _ in range(rng.randrange(0, 4))],
        total=rng.randrange(-(2**40), 2**40), change=rng.randrange(0, 1000),
        taxes=rng.choice([[], [pb.Tax(tax_type=100, rate_bp=1200, sum=n)], [pb.Tax(tax_type=7, sum=3)]]),
    )
    if rng.random() < 0.3:
        receipt.parent.CopyFrom(pb.ParentDocument(device_id="KKM-0009", shift_number=4, document_number=n - 1,
                                                  fiscal_sign=f"FS-{n}",
                                                  register_number=rng.choice(["", "010101012345"])))
    if rng.random() < 0.3:
        receipt.discount.CopyFrom(_adjustment(rng))
    if rng.random() < 0.2:
        receipt.markup.CopyFrom(_adjustment(rng))
    if rng.random() < 0.2:
        receipt.offline, receipt.offline_number = True, rng.randrange(1, 2**32)
    return receipt


def _verdicts(rng: random.Random, receipt: pb.Receipt) -> list[pb.CodeVerdictRecord]:
    verdicts = []
    for _ in range(rng.randrange(0, 4)):
        verdicts.append(pb.CodeVerdictRecord(
            line=rng.randrange(0, len(receipt.lines) + 2), code_index=rng.randrange(0, 3),
            cis=rng.choice(["", "0104600000000121ABC"]),
            verdict=rng.choice(["valid", "already_sold", "unknown"]),
            error_code=rng.choice(["", "bad_check_digit"]), gtin="04600000000012",
            group=rng.choice(["", "tobacco"]),
        ))
    return verdicts


def _exchange(rng: random.Random, n: int) -> pb.OfdExchangeLog:
    return pb.OfdExchangeLog(
        ofd_id=200000 + rng.randrange(10**6), number=n + 1, answered_ms=rng.choice([T0_MS + n, -3, 2**62]),
        command=rng.choice([0, 1, 5]), sealed=rng.randbytes(40),
    )


def corpus(seed: int = 5, receipts: int = 400) -> list[bytes]:
    """Accepted receipts of every shape (and a few records of other kinds between them), serialized."""
    records, _ = corpus_records(seed, receipts)
    return [record.SerializeToString() for record in records]


def corpus_records(seed: int, receipts: int) -> tuple[list[pb.JournalRecord], dict[int, bytes]]:
    """The corpus's records, and by seq the signed event bytes of those whose envelope no longer holds
    them (buyer data sealed or erased before the journal)."""
    rng = random.Random(seed)
    register = Register()
    records = register.shift(shift=1, receipts=3, first_document=1)  # shift rows: Python's, in the same batch
    for n in range(receipts):
        receipt = _receipt(rng, n + 10)
        time_ms = rng.choice([T0_MS + n * 1000, -5, 2**62, MAX_TIME_MS + 1, 0])
        findings = [pb.Finding(kind=rng.choice(["total_mismatch", "code_unknown", "code_clone"]),
                               line=rng.randrange(0, 3), detail="why",
                               cis=rng.choice(["", "0104600000000121ABC"]),
                               other_seller_tin=rng.choice(["", "990340000456"]),
                               other_store_id=rng.choice(["", "astana-02"]),
                               facts=rng.choice(["", '{"expires_on": "2026-09-03"}']))
                    for _ in range(rng.choice([0, 0, 1, 2]))]
        record = register.accepted(pb.Event(time_ms=time_ms, receipt=receipt), findings)
        record.received_ms = rng.choice([T0_MS + n * 1000 + 500, -1, 2**62])
        record.code_verdicts.extend(_verdicts(rng, receipt))
        if rng.random() < 0.3:  # made by the OFD front door from a register's frame, with its exchange
            record.authentication = "ofd_token"
            record.ofd_frame = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            record.ofd_exchange.CopyFrom(_exchange(rng, n))
        records.append(record)
        if n % 40 == 0:  # an OFD service command's exchange: a record without an event
            records.append(pb.JournalRecord(
                envelope=pb.Envelope(device_id=register.device_id), received_ms=T0_MS + n, accepted=False,
                seller_tin=register.seller_tin, store_id=register.store_id, gateway_id="gw-test",
                authentication="ofd_token", ofd_exchange=_exchange(rng, n),
            ))
        if n % 50 == 0:
            records.append(register.rejected("bad_signature", "signature does not verify"))
    buyer = register.accepted(pb.Event(time_ms=T0_MS, receipt=sell_receipt(9, 900, [1500])))
    buyer.authentication, buyer.ofd_frame = "ofd_token", b"frame naming the buyer +77010000000"
    event = pb.Event.FromString(buyer.envelope.event)
    event.receipt.buyer.CopyFrom(pb.BuyerContacts(phone="+77010000000", consent_purpose="e-receipt",
                                                  consent_expires_ms=T0_MS + 10 * 365 * 86_400_000))
    buyer.envelope.event = event.SerializeToString()
    erased = pb.JournalRecord()
    erased.CopyFrom(buyer)
    event.receipt.buyer.consent_purpose = ""  # contacts without consent: the bytes are not kept at all
    erased.envelope.event, erased.envelope.seq = event.SerializeToString(), 10**6
    # As the ingest stage journals them now: sealed (or erased) before the journal, a receipt without
    # its buyer in envelope.event, a receipt hidden under another body of the oneof, bytes that do not
    # parse, and a sealed receipt journalled before the digest of its signed bytes was kept.
    protected, signed = [], {}
    for seq, event_bytes in enumerate(
        [buyer.envelope.event, erased.envelope.event, buyer.envelope.event + _SHIFT_OPEN,
         buyer.envelope.event + _UNDECODABLE, buyer.envelope.event], start=10**6 + 1
    ):
        record = pb.JournalRecord()
        record.CopyFrom(buyer)
        record.envelope.event, record.envelope.seq = event_bytes, seq
        protect_record(RING, record, None if event_bytes.endswith(_UNDECODABLE) else pb.Event.FromString(
            event_bytes))
        protected.append(record)
        signed[seq] = event_bytes
    protected[-1].sealed.ClearField("event_sha256")
    return [*records, buyer, erased, *protected], signed


RING = PiiKeyRing.generate()
_SHIFT_OPEN = pb.Event(shift_open=pb.ShiftOpen(shift_number=9)).SerializeToString()
_UNDECODABLE = b"\x52\xff"  # a receipt field whose length runs past the end


# Columns that differ by design between two inserts: random keys of sealed buyer data, the insert time.
_DIFFERENT_EACH_TIME = {
    "events": {"event": "if(protection = 'sealed', '', event)",
               "evidence": "if(protection = 'sealed', '', evidence)"},
    "receipt_buyers": {column: "''" for column in ("wrapped_key", "email", "phone", "iin")},
    "code_events": {"inserted_at": "0"},
}


def _rows(client: Any, database: str, table: str) -> list[tuple[Any, ...]]:
    replace = _DIFFERENT_EACH_TIME.get(table, {})
    columns = [row[0] for row in client.query(f"DESCRIBE TABLE {database}.{table}").result_rows]
    select = ", ".join(f"{replace[c]} AS {c}" if c in replace else c for c in columns)
    return sorted(client.query(f"SELECT {select} FROM {database}.{table}").result_rows, key=repr)


@pytest.fixture
async def storage(tmp_path: Path) -> Any:
    async with migrated_storage(storage_settings(tmp_path)) as opened:
        yield opened


async def _store_both_ways(storage: Storage, raw: list[bytes]) -> tuple[str, str, InsertCounts]:
    """The records stored in two databases, rows built in Python and staged for the views; the rows."""
    python_db, staged_db = storage.database, storage.database + "_staged"
    await storage.run(lambda c: apply_migrations(c, staged_db))
    python_tables = build_tables(raw, RING)
    staged_tables = build_tables(raw, RING, stage_schema=schema_file(storage.url))
    assert STAGE_TABLE in staged_tables and "receipt_lines" not in staged_tables, "receipts were staged"
    stored = InsertCounts.of(python_tables)
    assert InsertCounts.of(staged_tables) == stored
    tokens = {table: f"t:{table}" for table in (*TABLES, STAGE_TABLE)}
    await storage.run(lambda c: insert_tables(c, python_db, python_tables, tokens))
    await storage.run(lambda c: insert_tables(c, staged_db, staged_tables, tokens))
    return python_db, staged_db, stored


async def test_staged_receipts_store_the_rows_python_builds(storage: Storage) -> None:
    python_db, staged_db, stored = await _store_both_ways(storage, corpus())
    assert stored.anomalies["total_mismatch"] > 0 and stored.anomalies["bad_ai_label"] > 0, "content findings"
    for table in TABLES:
        python_rows = await storage.run(lambda c, t=table: _rows(c, python_db, t))  # type: ignore[misc]
        staged_rows = await storage.run(lambda c, t=table: _rows(c, staged_db, t))  # type: ignore[misc]
        assert len(staged_rows) == len(python_rows) == stored.rows.get(table, 0), table
        assert staged_rows == python_rows, table
    sources = await storage.run(lambda c: c.query(
        f"SELECT DISTINCT ai_label, ai_source FROM {staged_db}.receipt_lines").result_rows)
    assert dict(sources) == {label: SOURCES[label] for label, _ in sources} and len(sources) == len(LABELS)
    sealed = await storage.run(lambda c: c.query(
        f"SELECT protection, count() FROM {staged_db}.events WHERE protection != '' GROUP BY protection"
    ).result_rows)
    assert dict(sealed) == {"sealed": 3, "erased": 4}
    evidence = await storage.run(lambda c: c.query(
        f"SELECT protection, authentication, countIf(position(evidence, '+7701') > 0),"
        f" countIf(evidence != '') FROM {staged_db}.events"
        " WHERE authentication = 'ofd_token' AND protection != '' GROUP BY ALL"
    ).result_rows)
    by_protection = {protection: (in_clear, kept) for protection, _, in_clear, kept in evidence}
    assert by_protection["erased"] == (0, 0) and by_protection["sealed"][0] == 0, "buyer data in evidence"
    assert by_protection["sealed"][1] >= 1, "sealed evidence is kept"
    storno = await storage.run(lambda c: c.query(
        f"SELECT countIf(storno), countIf(discount != 0), countIf(offline) FROM {staged_db}.receipts AS r "
        f"JOIN {staged_db}.receipt_lines AS l USING (device_id, seq)").result_rows)
    assert all(count > 0 for count in storno[0]), "the corpus has storno lines, adjustments, offline receipts"


async def test_both_ways_keep_the_digest_of_the_signed_event_bytes(storage: Storage) -> None:
    """events.event_sha256 is the SHA-256 of the bytes the register signed, whether they are kept in clear,
    sealed or erased (an audit export checks the signature with it), rows built by Python or by the views;
    '' for a record journalled before the digest was kept."""
    records, signed = corpus_records(seed=7, receipts=60)
    python_db, staged_db, _ = await _store_both_ways(storage, [r.SerializeToString() for r in records])
    expected = sorted(
        (r.envelope.seq, hashlib.sha256(signed.get(r.envelope.seq, r.envelope.event)).hexdigest())
        for r in records if r.accepted
    )
    old = max(signed)
    expected = [(seq, "" if seq == old else digest) for seq, digest in expected]
    for database in (python_db, staged_db):
        kept = await storage.run(lambda c, db=database: c.query(  # type: ignore[misc]
            f"SELECT seq, lower(hex(event_sha256)), protection, kind FROM {db}.events ORDER BY seq"
        ).result_rows)
        assert [(seq, digest) for seq, digest, _, _ in kept] == expected, database
        shapes = {(protection, kind) for _, _, protection, kind in kept}
        assert {("", "receipt"), ("sealed", "receipt"), ("erased", "receipt"), ("erased", "shift_open"),
                ("erased", "undecodable")} <= shapes, shapes


async def test_a_resent_range_adds_no_rows_in_any_table_the_views_write(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = corpus(seed=9, receipts=60)
    tokens = {table: f"r:{table}" for table in (*TABLES, STAGE_TABLE)}
    schema = schema_file(storage.url)
    database = storage.database
    working_directory = tmp_path / "cwd"
    working_directory.mkdir()
    monkeypatch.chdir(working_directory)

    def counts(client: Any) -> dict[str, int]:
        return {t: client.query(f"SELECT count() FROM {database}.{t}").result_rows[0][0] for t in VIEW_TABLES}

    def ship(client: Any, records: list[bytes], tokens: dict[str, str]) -> None:
        insert_tables(client, database, build_tables(records, None, stage_schema=schema), tokens)

    await storage.run(lambda c: ship(c, raw, tokens))
    first = await storage.run(counts)
    await storage.run(lambda c: ship(c, raw, tokens))
    assert await storage.run(counts) == first
    built = InsertCounts.of(build_tables(raw, None))
    assert first == {table: built.rows.get(table, 0) for table in VIEW_TABLES}
    other = {table: f"other:{table}" for table in tokens}  # another range: new rows
    await storage.run(lambda c: ship(c, raw[:5], other))
    assert (await storage.run(counts))["receipts"] > first["receipts"]
    assert not list(working_directory.iterdir()), "nothing is written where the gateway was started"


async def test_the_migrations_build_the_stage_table_and_views_staged_rows_describes(storage: Storage) -> None:
    """Migrations are fixed text (0007, 0013, 0015, 0017, 0019, 0020); staged_rows.py renders the live
    definition: the same stage table and views."""
    migrated, scratch = storage.database, storage.database + "_live"
    body = ",\n".join(STAGE_COLUMNS)

    def live(client: Any) -> None:
        client.command(f"CREATE DATABASE IF NOT EXISTS {scratch}")
        for table in VIEW_TABLES:  # the views' targets, as migrated
            client.command(f"CREATE TABLE {scratch}.{table} AS {migrated}.{table}")
        client.command(f"CREATE TABLE {scratch}.{STAGE_TABLE} ({body}) ENGINE = Null")
        for statement in view_statements(scratch):
            client.command(statement)

    def described(client: Any, database: str) -> tuple[Any, ...]:
        columns = client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}"
            " ORDER BY position", parameters={"db": database, "t": STAGE_TABLE}).result_rows
        views = client.query(
            "SELECT name, replaceAll(as_select, {db:String}, 'DB') FROM system.tables"
            " WHERE database = {db:String} AND engine = 'MaterializedView' ORDER BY name",
            parameters={"db": database}).result_rows
        return [tuple(c) for c in columns], [tuple(v) for v in views]

    await storage.run(live)
    by_migrations = await storage.run(lambda c: described(c, migrated))
    assert by_migrations == await storage.run(lambda c: described(c, scratch))
