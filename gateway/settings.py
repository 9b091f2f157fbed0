"""Settings: one frozen dataclass built from the environment and CLI flags, passed down; read nowhere else."""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Hard limits of decoding; documented in README (Limits)."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_envelopes: int = 10_000
    max_event_bytes: int = 256 * 1024
    max_lines: int = 1_000
    max_codes_per_line: int = 100
    max_string_chars: int = 1_024
    max_future_skew_s: int = 300


@dataclass(frozen=True)
class Settings:
    """Everything the gateway, the CLI and the shipper need to know."""

    data_dir: Path = Path("var")
    storage_url: str = ""  # empty: chdb://<data_dir>/clickhouse
    database: str = "tracegate"
    host: str = "127.0.0.1"
    port: int = 8080
    gateway_id: str = field(default_factory=socket.gethostname)
    journal_budget_bytes: int = 2 * 1024**3
    journal_segment_bytes: int = 64 * 1024 * 1024
    shipper_batch_rows: int = 50_000
    shipper_interval_s: float = 0.5  # how soon an acked event is visible (docs/performance.md, round 10)
    # Testing aid, off unless set: a file whose content (storage_down / storage_lost_reply) makes every
    # storage call fail as if ClickHouse were unreachable; see docs/reliability.md.
    fault_injection_file: str = ""
    # ClickHouse cluster name (remote_servers) when storage is a cluster: schema rendered Replicated +
    # Distributed ON CLUSTER; empty: one node (chDB or one server).
    cluster: str = ""
    log_format: str = "json"  # json: one JSON object per line (request ids); text: for a terminal
    log_level: str = "INFO"
    # How often /metrics refreshes the ClickHouse parts count (a system.parts query, off the event loop).
    parts_refresh_s: float = 5.0
    # Security (docs/security.md). Buyer personal data keys: a JSON key file (empty: <data>/pii.keys,
    # made on first start, 0600) or the same JSON in TRACEGATE_PII_KEYS, which wins.
    pii_key_file: str = ""
    pii_keys: str = ""
    registry_refresh_s: float = 3.0  # how soon a revocation made on another node takes effect here
    # With a ClickHouse server (several nodes): how often this node reads the codes other nodes sold or
    # returned into its status index, and how often the double-sale sweep runs (docs/marking-codes.md).
    code_follow_interval_s: float = 2.0
    code_sweep_interval_s: float = 30.0
    acceptance_sweep_interval_s: float = 60.0  # with a server: how often events stored twice are looked for
    trusted_proxies: str = ""  # comma-separated addresses whose X-Forwarded-For is believed
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""  # set: device endpoints require a client certificate signed by it
    rate_device_per_s: float = 20.0  # batches per second per device (token bucket)
    rate_device_burst: int = 200
    rate_token_per_s: float = 20.0  # requests per second per bearer token
    rate_token_burst: int = 200
    rate_remote_per_s: float = 200.0  # requests per second per remote address, before anything else
    rate_remote_burst: int = 2000
    rate_verify_per_s: float = 2.0  # GET /v1/verify (open to anyone) per remote address
    rate_verify_burst: int = 20
    rate_check_per_s: float = 10.0  # pre-sale code checks per second per device
    rate_check_burst: int = 100
    # Refusals not proven to come from the device they name (bad signature, unknown device or key, …)
    # journalled per second per remote address, one per device and error a request; past it they are
    # answered but not kept (anyone can send them: they must not fill the journal).
    rate_unproven_per_s: float = 10.0
    rate_unproven_burst: int = 500
    keepalive_timeout_s: float = 30.0
    body_read_timeout_s: float = 30.0  # a body that trickles in slower than this is refused (408)
    max_header_bytes: int = 8190
    # 1: the ClickHouse client and the shipper's row building run in a spawned storage process of their
    # own (docs/performance.md); by default when the machine has a second core. 0: in the gateway process.
    storage_process: int = field(default_factory=lambda: 1 if (os.cpu_count() or 1) >= 2 else 0)
    # The OFD 2.0.2/2.0.3 front door for installed registers (gateway/ofd/server.py); port 0: off.
    ofd_host: str = ""  # empty: the HTTP host
    ofd_port: int = 0
    ofd_read_timeout_s: float = 10.0  # each read of a frame's parts, and the peer taking an answer
    ofd_exchange_timeout_s: float = 20.0  # one request read, answered and written (registers wait 5-10 s)
    ofd_max_frame_bytes: int = 1024 * 1024
    ofd_max_connections: int = 4096  # open at once; each is a file descriptor
    # Exchanges per second per remote address. Registers behind one operator NAT (an APN) share an
    # address: raise it there. Over it a register is told 254 (temporarily unavailable, retry).
    ofd_rate_remote_per_s: float = 200.0
    ofd_rate_remote_burst: int = 2000
    # Wrong tokens per (register ID, source address) before that address is answered 254 for that ID
    # (gateway/ofd/token_failures.py), refilled per minute: a register that lost its token retries at
    # most once a minute (the protocol's reconnect interval), so it never runs out. Burst 0: off.
    ofd_token_failures_burst: int = 20
    ofd_token_failures_per_min: float = 1.0
    ofd_tls_cert_file: str = ""  # 2.0.3 registers speak plain TCP; TLS is for a tunnel or a proxy
    ofd_tls_key_file: str = ""
    ofd_tls_client_ca_file: str = ""  # set: every OFD connection must present a certificate it signed
    # What the front door answers (gateway/ofd, docs/ofd.md). The consumer-check link printed as the
    # receipt's QR code: <ofd_check_url>/check?i=…&f=…&s=…&t=… (empty: http://<host>:<port>).
    ofd_check_url: str = ""
    # Registers send local time without a zone: minutes east of UTC (Kazakhstan: UTC+5 since 2024).
    ofd_utc_offset_min: int = 300
    # GET /check (the consumer check those links open) per remote address: guessing numbers stays slow.
    check_rate_per_s: float = 5.0
    check_rate_burst: int = 50
    limits: Limits = field(default_factory=Limits)

    @property
    def resolved_storage_url(self) -> str:
        """The storage URL, defaulting to embedded chDB inside the data directory."""
        return self.storage_url or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def embedded(self) -> bool:
        """True when storage is chDB in this process (the data directory is then ours alone)."""
        return self.resolved_storage_url.startswith("chdb://")

    @property
    def journal_dir(self) -> Path:
        """Where the write-ahead journal lives."""
        return self.data_dir / "journal"

    @property
    def admin_token_file(self) -> Path:
        """The admin token made on first start (mode 0600)."""
        return self.data_dir / "admin.token"

    @property
    def fiscal_key_file(self) -> Path:
        """The gateway's fiscal-sign key (shared by every node of one installation)."""
        return self.data_dir / "fiscal.key"

    @property
    def export_key_file(self) -> Path:
        """The gateway's export key: signs the manifests of audit exports (docs/export.md)."""
        return self.data_dir / "export.key"

    @property
    def ofd_key_file(self) -> Path:
        """The master key of OFD registers' gateway-held keys and tokens (shared by every node)."""
        return self.data_dir / "ofd.key"

    @property
    def consumer_check_url(self) -> str:
        """Where the consumer-check links printed on OFD registers' receipts point (no trailing /)."""
        return (self.ofd_check_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def runtime_file(self) -> Path:
        """Written by a running gateway: its pid and URL, so the CLI can talk to it."""
        return self.data_dir / "gateway.json"


ENV_PREFIX = "TRACEGATE_"
_ENV_FIELDS = {
    "DATA": "data_dir",
    "STORAGE_URL": "storage_url",
    "DATABASE": "database",
    "HOST": "host",
    "PORT": "port",
    "GATEWAY_ID": "gateway_id",
    "JOURNAL_BUDGET_BYTES": "journal_budget_bytes",
    "SHIPPER_BATCH_ROWS": "shipper_batch_rows",
    "SHIPPER_INTERVAL_S": "shipper_interval_s",
    "JOURNAL_SEGMENT_BYTES": "journal_segment_bytes",
    "FAULT_INJECTION_FILE": "fault_injection_file",
    "CLUSTER": "cluster",
    "LOG_FORMAT": "log_format",
    "LOG_LEVEL": "log_level",
    "PARTS_REFRESH_S": "parts_refresh_s",
    "PII_KEY_FILE": "pii_key_file",
    "PII_KEYS": "pii_keys",
    "REGISTRY_REFRESH_S": "registry_refresh_s",
    "CODE_FOLLOW_INTERVAL_S": "code_follow_interval_s",
    "CODE_SWEEP_INTERVAL_S": "code_sweep_interval_s",
    "ACCEPTANCE_SWEEP_INTERVAL_S": "acceptance_sweep_interval_s",
    "TRUSTED_PROXIES": "trusted_proxies",
    "TLS_CERT_FILE": "tls_cert_file",
    "TLS_KEY_FILE": "tls_key_file",
    "TLS_CLIENT_CA_FILE": "tls_client_ca_file",
    "RATE_DEVICE_PER_S": "rate_device_per_s",
    "RATE_DEVICE_BURST": "rate_device_burst",
    "RATE_TOKEN_PER_S": "rate_token_per_s",
    "RATE_TOKEN_BURST": "rate_token_burst",
    "RATE_REMOTE_PER_S": "rate_remote_per_s",
    "RATE_REMOTE_BURST": "rate_remote_burst",
    "RATE_VERIFY_PER_S": "rate_verify_per_s",
    "RATE_VERIFY_BURST": "rate_verify_burst",
    "RATE_CHECK_PER_S": "rate_check_per_s",
    "RATE_CHECK_BURST": "rate_check_burst",
    "RATE_UNPROVEN_PER_S": "rate_unproven_per_s",
    "RATE_UNPROVEN_BURST": "rate_unproven_burst",
    "KEEPALIVE_TIMEOUT_S": "keepalive_timeout_s",
    "BODY_READ_TIMEOUT_S": "body_read_timeout_s",
    "MAX_HEADER_BYTES": "max_header_bytes",
    "STORAGE_PROCESS": "storage_process",
    "OFD_HOST": "ofd_host",
    "OFD_PORT": "ofd_port",
    "OFD_READ_TIMEOUT_S": "ofd_read_timeout_s",
    "OFD_EXCHANGE_TIMEOUT_S": "ofd_exchange_timeout_s",
    "OFD_MAX_FRAME_BYTES": "ofd_max_frame_bytes",
    "OFD_MAX_CONNECTIONS": "ofd_max_connections",
    "OFD_RATE_REMOTE_PER_S": "ofd_rate_remote_per_s",
    "OFD_RATE_REMOTE_BURST": "ofd_rate_remote_burst",
    "OFD_TOKEN_FAILURES_BURST": "ofd_token_failures_burst",
    "OFD_TOKEN_FAILURES_PER_MIN": "ofd_token_failures_per_min",
    "OFD_TLS_CERT_FILE": "ofd_tls_cert_file",
    "OFD_TLS_KEY_FILE": "ofd_tls_key_file",
    "OFD_TLS_CLIENT_CA_FILE": "ofd_tls_client_ca_file",
    "OFD_CHECK_URL": "ofd_check_url",
    "OFD_UTC_OFFSET_MIN": "ofd_utc_offset_min",
    "CHECK_RATE_PER_S": "check_rate_per_s",
    "CHECK_RATE_BURST": "check_rate_burst",
}
CONFIG_ENV = ENV_PREFIX + "CONFIG"  # path of an optional TOML file (flag: --config)


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind in ("Path", Path):
        return Path(raw)
    if kind in ("int", int):
        return int(raw)
    if kind in ("float", float):
        return float(raw)
    return str(raw)


def read_config_file(path: Path) -> dict[str, Any]:
    """Settings values from a TOML file: top-level keys are Settings field names, [limits] the limits."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {names}")
    values = {name: _coerce(name, value) for name, value in raw.items() if name != "limits"}
    if "limits" in raw:
        limit_names = {f.name for f in fields(Limits)}
        bad = sorted(set(raw["limits"]) - limit_names)
        if bad:
            raise ValueError(f"{path}: unknown limit(s) {', '.join(bad)}")
        values["limits"] = replace(Limits(), **{k: int(v) for k, v in raw["limits"].items()})
    return values


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings: defaults, then a TOML file (config_file or $TRACEGATE_CONFIG), then TRACEGATE_*
    environment variables, then explicit overrides (flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is not None:
        values.update(read_config_file(path))
    for suffix, name in _ENV_FIELDS.items():
        if ENV_PREFIX + suffix in env:
            values[name] = _coerce(name, env[ENV_PREFIX + suffix])
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value) if name != "limits" else value
    return replace(Settings(), **values)
