"""Settings: flags > environment > TOML file > defaults; `tracegate config` prints them, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.config import redact_url
from gateway.cli.main import main
from gateway.settings import load_settings, read_config_file

FILE = """
storage_url = "http://tracegate_writer:s3cret-from-file@ch.internal:8123/tracegate"
port = 9100
cluster = "tracegate"
shipper_interval_s = 5
log_format = "text"

[limits]
max_envelopes = 500
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tracegate.toml"
    path.write_text(FILE)
    return path


def test_flags_beat_environment_beat_file_beat_defaults(config_file: Path) -> None:
    env = {"TRACEGATE_PORT": "9200", "TRACEGATE_CONFIG": str(config_file)}
    from_env_and_file = load_settings(environ=env)
    assert from_env_and_file.port == 9200  # env over file
    assert from_env_and_file.cluster == "tracegate" and from_env_and_file.shipper_interval_s == 5.0  # file
    assert from_env_and_file.limits.max_envelopes == 500
    assert from_env_and_file.limits.max_lines == 1_000  # default where the file says nothing
    assert from_env_and_file.database == "tracegate"  # default
    flagged = load_settings({"port": 9300}, environ=env)
    assert flagged.port == 9300
    explicit = load_settings(environ={}, config_file=config_file)
    assert explicit.port == 9100
    assert load_settings(environ={}).port == 8080


def test_unknown_keys_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('prot = 9000\n')
    with pytest.raises(ValueError, match="prot"):
        read_config_file(path)
    path.write_text('[limits]\nmax_envelope = 1\n')
    with pytest.raises(ValueError, match="max_envelope"):
        read_config_file(path)


def test_config_command_prints_loadable_toml_without_the_password(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRACEGATE_PORT", "TRACEGATE_CONFIG", "TRACEGATE_STORAGE_URL", "TRACEGATE_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACEGATE_GATEWAY_ID", "gateway-7")
    monkeypatch.setenv("TRACEGATE_PII_KEYS", "k1:c2VjcmV0LWtleS1tYXRlcmlhbA")
    assert main(["config", "--config", str(config_file), "--port", "9400"]) == 0
    printed = capsys.readouterr().out
    assert "s3cret-from-file" not in printed
    assert "c2VjcmV0LWtleS1tYXRlcmlhbA" not in printed and 'pii_keys = "***"' in printed
    assert 'pii_key_file = ""' in printed  # a file name is not a secret
    assert 'storage_url = "http://tracegate_writer:***@ch.internal:8123/tracegate"' in printed
    assert "port = 9400" in printed and 'gateway_id = "gateway-7"' in printed
    reloaded_path = tmp_path / "printed.toml"
    reloaded_path.write_text(printed)
    reloaded = load_settings(environ={}, config_file=reloaded_path)
    assert (reloaded.port, reloaded.cluster, reloaded.gateway_id) == (9400, "tracegate", "gateway-7")
    assert reloaded.limits.max_envelopes == 500


def test_redaction_keeps_everything_but_the_password() -> None:
    assert redact_url("http://u:p%40ss@h:8123/db?x=1") == "http://u:***@h:8123/db?x=1"
    assert redact_url("http://h:8123/db") == "http://h:8123/db"
    assert redact_url("chdb:///var/lib/tracegate/clickhouse") == "chdb:///var/lib/tracegate/clickhouse"
    assert redact_url("https://u:p@[::1]:8443/db") == "https://u:***@[::1]:8443/db"
