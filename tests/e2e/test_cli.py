"""The operator's commands as a user types them: with a gateway running on --data, and with none."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gateway.wire import signing
from tests.e2e.conftest import tracegate
from tests.reliability.gateway_process import GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def _key_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.pem"
    path.write_text(signing.public_key_pem(signing.new_private_key().public_key()))
    return path


def _add(data: Path, device_id: str, key: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return tracegate(
        "devices", "add", "--data", str(data), "--id", device_id, "--tin", "123456789012",
        "--store", "almaty-01", "--key", str(key), check=check,
    )


def _device_cycle(data: Path, tmp_path: Path, device_id: str) -> None:
    added = _add(data, device_id, _key_file(tmp_path, device_id))
    assert f"registered {device_id}" in added.stdout
    listed = json.loads(tracegate("devices", "list", "--data", str(data), "--json").stdout)
    assert [(d["device_id"], d["status"]) for d in listed] == [(device_id, "active")]
    again = _add(data, device_id, _key_file(tmp_path, "other"), check=False)  # another key: a conflict
    assert again.returncode == 1 and "conflict" in again.stderr and "KeyRotation" in again.stderr
    assert "revoked" in tracegate("devices", "revoke", "--data", str(data), device_id).stdout
    table = tracegate("devices", "list", "--data", str(data)).stdout
    assert device_id in table and "revoked" in table
    rows = tracegate(
        "sql", "--data", str(data), "--json", "SELECT device_id, status FROM tracegate.devices FINAL"
    ).stdout
    assert json.loads(rows)["rows"] == [[device_id, "revoked"]]
    query = "SELECT device_id, status FROM tracegate.devices FINAL"
    csv_out = tracegate("sql", "--data", str(data), query + " FORMAT CSVWithNames").stdout
    assert csv_out == f'device_id,status\n{device_id},revoked\n'
    each = tracegate("sql", "--data", str(data), query + " format JSONEachRow;").stdout
    assert json.loads(each) == {"device_id": device_id, "status": "revoked"}
    odd = tracegate("sql", "--data", str(data), query + " FORMAT Parquet", check=False)
    assert odd.returncode == 1 and "use one of" in odd.stderr and "Traceback" not in odd.stderr
    bad = tracegate(
        "sql", "--data", str(data), "INSERT INTO tracegate.devices (device_id) VALUES ('x')", check=False
    )
    assert bad.returncode == 1 and "readonly" in bad.stderr.lower()


def test_commands_open_the_data_directory_when_no_gateway_runs(tmp_path: Path) -> None:
    _device_cycle(tmp_path / "data", tmp_path, "KKM-CLI-OFF")
    issued = tracegate("tokens", "issue", "--data", str(tmp_path / "data"), "--scope", "analyst")
    assert "analyst" in issued.stdout


def test_commands_go_through_the_running_gateway(gateway: GatewayProcess, tmp_path: Path) -> None:
    _device_cycle(gateway.data, tmp_path, "KKM-CLI-ON")
    status, answer = gateway.admin("GET", "/v1/admin/devices")  # the gateway itself knows the change
    assert status == 200 and answer["devices"][0]["status"] == "revoked"
