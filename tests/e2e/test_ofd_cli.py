"""`tracegate devices` for OFD registers, as an operator types it: with a gateway running, and with none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import tracegate
from tests.reliability.gateway_process import GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]
_ADD = ("devices", "add", "--protocol", "ofd", "--tin", "123456789012", "--store", "almaty-01")


def _ofd_cycle(data: Path) -> None:
    given = tracegate(*_ADD, "--data", str(data), "--id", "KKM-200001", "--ofd-id", "200001",
                      "--ofd-token", "3000000001", "--kgd-number", "010101012345")
    assert "registered KKM-200001" in given.stdout and "OFD id 200001" in given.stdout
    assert "OFD token" not in given.stdout, "a token the operator gave is not printed"
    made = tracegate(*_ADD, "--data", str(data), "--id", "KKM-200002", "--ofd-id", "200002",
                     "--kgd-number", "010101012346")
    token = re.search(r"OFD token (\d+) \(shown once", made.stdout)
    assert token is not None and 0 < int(token.group(1)) < 2**32
    taken = tracegate(*_ADD, "--data", str(data), "--id", "KKM-200003", "--ofd-id", "200001",
                      "--kgd-number", "010101012347", check=False)
    assert taken.returncode == 1 and "OFD id 200001 belongs to register KKM-200001" in taken.stderr
    keyless = tracegate(*_ADD, "--data", str(data), "--id", "KKM-200004", "--ofd-id", "200004", check=False)
    assert keyless.returncode == 1 and "--kgd-number" in keyless.stderr
    listed = {d["device_id"]: d for d in json.loads(
        tracegate("devices", "list", "--data", str(data), "--json").stdout)}
    assert (listed["KKM-200001"]["protocol"], listed["KKM-200001"]["ofd_id"]) == ("ofd", 200001)
    assert all("token" not in key for d in listed.values() for key in d), "no token, no token MAC listed"
    reset = tracegate("devices", "ofd-token", "--data", str(data), "KKM-200001")
    assert re.search(r"OFD token \d+ \(shown once", reset.stdout)
    assert "revoked" in tracegate("devices", "revoke", "--data", str(data), "KKM-200001").stdout
    table = tracegate("devices", "list", "--data", str(data)).stdout
    assert "ofd (OFD id 200001, KGD 010101012345)" in table and "revoked" in table
    sql = "SELECT device_id, protocol, ofd_token_mac != '' FROM tracegate.devices FINAL ORDER BY device_id"
    stored = tracegate("sql", "--data", str(data), "--json", sql).stdout
    assert json.loads(stored)["rows"] == [["KKM-200001", "ofd", True], ["KKM-200002", "ofd", True]]
    assert (data / "ofd.key").stat().st_mode & 0o777 == 0o600


def test_ofd_registers_on_the_data_directory_when_no_gateway_runs(tmp_path: Path) -> None:
    _ofd_cycle(tmp_path / "data")


def test_ofd_registers_through_the_running_gateway(gateway: GatewayProcess) -> None:
    _ofd_cycle(gateway.data)
    status, answer = gateway.admin("GET", "/v1/admin/devices")
    assert status == 200 and {d["device_id"]: d["status"] for d in answer["devices"]} == {
        "KKM-200001": "revoked", "KKM-200002": "active"}
