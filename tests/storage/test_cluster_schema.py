"""One schema, two renderings: single node applies to chDB; every cluster statement parses in ClickHouse.

Golden files: tests/storage/golden/single_node.sql and cluster.sql. After changing a migration, regenerate:
    tracegate migrate --print-ddl > tests/storage/golden/single_node.sql
    tracegate migrate --print-ddl --cluster tracegate > tests/storage/golden/cluster.sql
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.migrations import render_schema
from gateway.storage.table_engine import SINGLE_NODE, Cluster, TableEngine

GOLDEN = Path(__file__).parent / "golden"
CLUSTER = Cluster("tracegate")
_NAME = re.compile(r"^(?:CREATE|ALTER) (?:TABLE|VIEW|DATABASE) (?:IF (?:NOT )?EXISTS )?(?:\w+\.)?(\w+)")


def _print_ddl(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("TRACEGATE_DATABASE", "TRACEGATE_CLUSTER", "TRACEGATE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate", "--print-ddl", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("golden", "args"), [("single_node.sql", []), ("cluster.sql", ["--cluster", "tracegate"])]
)
def test_golden_ddl_is_what_the_command_prints(
    golden: str, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = _print_ddl(args, capsys, monkeypatch)
    assert printed == (GOLDEN / golden).read_text(), f"regenerate {golden}: see this module's docstring"


def test_sharded_tables_become_a_replicated_local_table_and_a_distributed_one() -> None:
    engine = TableEngine(["device_id", "seq"], "toYYYYMM(t)", sharding_key="cityHash64(device_id)")
    local, distributed = CLUSTER.create_table("db", "events", "device_id String, seq UInt64", engine)
    assert local.startswith("CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER tracegate")
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in local
    assert "replicated_deduplication_window = 10000" in local
    assert "non_replicated_deduplication_window" not in local
    assert distributed.startswith("CREATE TABLE IF NOT EXISTS db.events ON CLUSTER tracegate")
    assert distributed.endswith(
        "ENGINE = Distributed('tracegate', 'db', 'events_local', cityHash64(device_id))"
    )

    def columns(ddl: str) -> str:
        return ddl.split(")\nENGINE")[0].split("\n(\n")[1]

    assert columns(local) == columns(distributed)  # the Distributed table reads the local ones as they are


def test_unsharded_tables_are_one_replicated_copy_on_every_server() -> None:
    engine = TableEngine(["device_id"], replacing_version="updated_ms")
    [ddl] = CLUSTER.create_table("db", "devices", "device_id String, updated_ms Int64", engine)
    path = "'/clickhouse/tables/all/{database}/{table}'"
    assert f"ReplicatedReplacingMergeTree({path}, '{{replica}}', updated_ms)" in ddl
    assert "Distributed" not in ddl


def test_a_devices_chain_and_everything_derived_from_it_live_on_one_shard() -> None:
    keys = {
        m.group(1): s.rsplit(", ", 1)[1].rstrip(")") + ")"
        for s in render_schema("tracegate", CLUSTER)
        if "ENGINE = Distributed(" in s and (m := _NAME.match(s))
    }
    for table in ("events", "receipts", "receipt_lines", "shifts", "rejections", "anomalies"):
        assert keys[table] == "cityHash64(device_id)", table


def test_every_cluster_statement_runs_on_cluster() -> None:
    missing = set()
    for statement in render_schema("tracegate", CLUSTER):
        if statement.startswith("INSERT INTO "):
            continue  # data, not schema: inserted through one server, a replicated table copies it
        if " ON CLUSTER tracegate" not in statement.split(" AS ", 1)[0]:
            match = _NAME.match(statement)
            missing.add(match.group(1) if match else statement[:60])
    assert missing == set(), f"on a cluster these would exist on one server only: {missing}"


def _format(storage: Storage, sql: str) -> str:
    return str(storage.run_sync(
        lambda c: c.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows[0][0]
    ))


@pytest.mark.clickhouse
def test_every_cluster_statement_parses_with_clickhouses_parser(settings: Settings) -> None:
    storage = Storage.open(settings)
    try:
        with pytest.raises(Exception, match="Syntax error"):  # the check can fail
            _format(storage, "CREATE TABLE t ON CLUSTER tracegate (x UInt8) ENGINE = Distributed(")
        statements = render_schema("tracegate", CLUSTER)
        formatted = [_format(storage, statement) for statement in statements]
    finally:
        storage.close()
    assert len(formatted) == len(statements)
    for original, canonical in zip(statements, formatted, strict=True):
        if " ON CLUSTER tracegate" in original:
            assert "ON CLUSTER tracegate" in canonical
        if "ENGINE = Replicated" in original:
            assert "{shard}" in canonical or "/all/" in canonical
            assert "'{replica}'" in canonical


@pytest.mark.clickhouse
def test_single_node_rendering_applies_to_chdb(settings: Settings) -> None:
    storage = Storage.open(settings)
    try:
        for statement in render_schema(storage.database, SINGLE_NODE):
            storage.run_sync(lambda c, s=statement: c.command(s))
        tables = storage.run_sync(lambda c: c.query(
            "SELECT name, engine FROM system.tables WHERE database = {db:String}",
            parameters={"db": storage.database}).result_rows)
    finally:
        storage.close()
    engines = dict(tables)
    assert engines["events"] == "MergeTree" and engines["devices"] == "ReplacingMergeTree"
    assert not any(name.endswith("_local") for name in engines)

