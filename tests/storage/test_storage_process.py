"""The storage process: the gateway's ClickHouse calls and the shipper's inserts, in a child of their own."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from gateway.settings import Settings, load_settings
from gateway.storage import process as process_module
from gateway.storage.client import Storage
from gateway.storage.errors import classify
from gateway.storage.migrations import apply_migrations
from gateway.storage.rows import TABLES
from gateway.storage.staged_rows import STAGE_TABLE
from tests.storage.journal_records import Register

pytestmark = pytest.mark.clickhouse
REPO = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path) -> Settings:
    # A chDB directory of the test's own: the child is another process, so it may open one.
    return load_settings({"data_dir": tmp_path}, environ={})


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    opened = Storage.open(_settings(tmp_path), own_process=True)
    opened.run_sync(lambda c: apply_migrations(c, opened.database))
    yield opened
    opened.close()


def _records() -> list[bytes]:
    first, second = Register("KKM-A"), Register("KKM-B", seller_tin="770000000001")
    records = [*first.shift(1, 4, 1), *second.shift(5, 3, 100), first.rejected("bad_signature", "no")]
    return [record.SerializeToString() for record in records]


def _tokens(batch: str) -> dict[str, str]:
    return {table: f"test:{batch}:{table}" for table in (*TABLES, STAGE_TABLE)}


def _counts(storage: Storage) -> dict[str, int]:
    sql = " UNION ALL ".join(
        f"SELECT '{t}' AS t, count() AS n FROM {storage.database}.{t}"
        for t in ("events", "receipts", "receipt_lines", "shifts", "rejections")
    )
    return {str(t): int(n) for t, n in storage.run_sync(lambda c: c.query(sql).result_rows)}


def _wait_until_exited(storage: Storage) -> None:
    """Until the killed child has exited: a SIGKILLed chDB takes a while to tear its threads down on a busy
    host, and only then does the parent see it dead (until then the call in hand fails, retryably)."""
    assert storage._process is not None
    child = storage._process._process
    child.join(30)
    assert not child.is_alive(), "the storage process still runs 30 s after SIGKILL"


def _child_pid(storage: Storage) -> int:
    assert storage._process is not None
    return storage._process.pid


@pytest.mark.parametrize("staged", [True, False], ids=["receipts-staged", "python-rows"])
async def test_records_sent_twice_with_the_same_tokens_are_stored_once(
    storage: Storage, staged: bool
) -> None:
    raw = _records()
    inserted = await storage.insert_records(raw, None, _tokens("1"), staged=staged)
    assert (inserted.rows["events"], inserted.rows["rejections"], inserted.rows["receipts"]) == (11, 1, 7)
    # a retry after a lost answer
    again = await storage.insert_records(raw, None, _tokens("1"), staged=staged)
    assert again == inserted
    stored = {"events": 11, "receipts": 7, "receipt_lines": 13, "shifts": 2, "rejections": 1}
    assert _counts(storage) == stored
    result = storage.run_sync(
        lambda c: c.query(f"SELECT device_id, count() AS n FROM {storage.database}.events GROUP BY device_id "
                          "ORDER BY device_id")
    )
    assert result.column_names == ("device_id", "n")
    assert result.result_rows == [("KKM-A", 6), ("KKM-B", 5)]


def test_the_storage_process_yields_the_cpu_to_ingest(storage: Storage) -> None:
    with open(f"/proc/{_child_pid(storage)}/stat") as stat:
        nice = int(stat.read().rsplit(")", 1)[1].split()[16])
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) + process_module.STORAGE_NICE


def test_storage_errors_come_back_as_clickhouse_errors(storage: Storage) -> None:
    with pytest.raises(DatabaseError) as raised:
        storage.run_sync(lambda c: c.query(f"SELECT * FROM {storage.database}.no_such_table"))
    failure = classify(raised.value)
    assert failure.code == 60 and not failure.retryable  # UNKNOWN_TABLE, as when in process


async def test_a_killed_storage_process_fails_the_call_in_hand_then_comes_back(storage: Storage) -> None:
    await storage.insert_records(_records(), None, _tokens("1"), staged=True)
    call = storage.run(lambda c: c.command("SELECT sleep(2)"))
    pending = asyncio.ensure_future(call)
    await asyncio.sleep(0.5)
    os.kill(_child_pid(storage), signal.SIGKILL)
    with pytest.raises(OperationalError) as raised:  # the call in hand: storage unreachable, retry later
        await pending
    assert classify(raised.value).retryable
    # The next call starts a new storage process on the same data, which ClickHouse kept.
    assert _counts(storage)["events"] == 11
    os.kill(_child_pid(storage), signal.SIGKILL)  # found dead between calls: restarted before the call
    _wait_until_exited(storage)
    await storage.insert_records(_records()[:1], None, _tokens("2"), staged=True)
    assert _counts(storage)["events"] == 12
    assert storage.process_restarts == 2  # what tracegate_storage_process_restarts_total reports


def test_the_storage_process_dies_with_a_killed_gateway(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from gateway.settings import load_settings\n"
        "from gateway.storage.client import Storage\n"
        f"settings = load_settings({{'data_dir': {str(tmp_path)!r}}}, environ={{}})\n"
        "s = Storage.open(settings, own_process=True)\n"
        "print(s._process.pid if s._process else 0, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)
    # Its lock went with it: the next gateway opens the same data directory.
    reopened = Storage.open(_settings(tmp_path), own_process=True)
    try:
        assert reopened.run_sync(lambda c: c.command("SELECT 42")) == 42
    finally:
        reopened.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_second_process_on_the_same_embedded_directory_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"chdb://{tmp_path / 'clickhouse'}"
    holder = os.open(tmp_path / "clickhouse.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    monkeypatch.setattr(process_module, "LOCK_WAIT_S", 0.3)
    with pytest.raises(Exception, match="another process holds the embedded ClickHouse"):
        process_module._lock_embedded_directory(url)
    os.close(holder)


def test_settings_choose_where_the_client_lives(tmp_path: Path) -> None:
    off = load_settings({"data_dir": tmp_path}, environ={"TRACEGATE_STORAGE_PROCESS": "0"})
    assert off.storage_process == 0
    expected = 1 if (os.cpu_count() or 1) >= 2 else 0
    assert load_settings({"data_dir": tmp_path}, environ={}).storage_process == expected
