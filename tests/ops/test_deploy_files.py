"""ops/ hangs together: compose, ClickHouse, Keeper, HAProxy and systemd files agree with each other."""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli.main import build_parser
from gateway.settings import _ENV_FIELDS, ENV_PREFIX

REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "ops"
COMPOSE_FILE = OPS / "docker-compose.cluster.yml"
KEEPERS = {"keeper-1", "keeper-2", "keeper-3"}
CLICKHOUSES = {"clickhouse-s1r1", "clickhouse-s1r2", "clickhouse-s2r1", "clickhouse-s2r2"}
GATEWAYS = {"gateway-1", "gateway-2"}
SETTING_VARIABLES = {ENV_PREFIX + suffix for suffix in _ENV_FIELDS}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file, parsed (anchors and merge keys resolved as compose resolves them)."""
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return parsed


def services(compose: dict[str, Any]) -> dict[str, Any]:
    """The services section."""
    result: dict[str, Any] = compose["services"]
    return result


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (resolved against ops/) of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (OPS / source).resolve()
    return mounts


def mounted_xml(service: dict[str, Any], container_path: str) -> ET.Element:
    """Parse the XML file a service mounts at container_path."""
    return ET.parse(bind_mounts(service)[container_path]).getroot()


def test_compose_runs_keepers_clickhouse_servers_gateways_and_haproxy(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    assert KEEPERS | CLICKHOUSES | GATEWAYS | {"haproxy"} <= names
    for name, service in services(compose).items():
        image = service.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin the image version"


def test_every_depends_on_names_a_service(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    for name, service in services(compose).items():
        for dependency in service.get("depends_on", []):
            assert dependency in names, f"{name} depends on unknown service {dependency}"
    assert (
        services(compose)["gateway-1"]["depends_on"]["migrate"]["condition"]
        == "service_completed_successfully"
    )


def test_every_mounted_file_exists_in_the_repository(compose: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes", {}))
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (OPS / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if build:
            context = (OPS / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), f"{name}: no Dockerfile"
            assert (context / "pyproject.toml").is_file(), f"{name}: build context is not the repository root"


def test_secrets_stay_out_of_git(compose: dict[str, Any]) -> None:
    # The fiscal key and .env are made by the operator; the repository must ignore them, not ship them.
    for secret in compose["secrets"].values():
        path = (OPS / secret["file"]).resolve()
        assert path.parent == OPS / "secrets"
    assert "*" in (OPS / "secrets" / ".gitignore").read_text().split()
    assert ".env" in (OPS / ".gitignore").read_text().split()


def test_every_compose_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (OPS / "cluster.env.example").read_text(), re.MULTILINE))
    assert used, "the compose file takes its secrets from variables"
    assert used <= documented, f"undocumented in cluster.env.example: {sorted(used - documented)}"


def test_gateway_environment_names_real_settings(compose: dict[str, Any]) -> None:
    example = set(
        re.findall(r"^(TRACEGATE_[A-Z0-9_]+)=", (OPS / "gateway.env.example").read_text(), re.MULTILINE)
    )
    assert {
        "TRACEGATE_DATA",
        "TRACEGATE_STORAGE_URL",
        "TRACEGATE_GATEWAY_ID",
        "TRACEGATE_JOURNAL_BUDGET_BYTES",
    } <= example
    assert example <= SETTING_VARIABLES, (
        f"not read by gateway/settings.py: {sorted(example - SETTING_VARIABLES)}"
    )
    dockerfile_env = set(re.findall(r"(TRACEGATE_[A-Z0-9_]+)=", (OPS / "Dockerfile").read_text()))
    assert dockerfile_env <= SETTING_VARIABLES
    for name in GATEWAYS:
        environment = set(services(compose)[name]["environment"])
        assert environment <= SETTING_VARIABLES, f"{name}: {sorted(environment - SETTING_VARIABLES)}"


def test_compose_commands_are_valid_tracegate_invocations(compose: dict[str, Any]) -> None:
    args = build_parser().parse_args(services(compose)["migrate"]["command"])
    assert args.command == "migrate"
    assert args.storage_url.startswith("http://tracegate_admin:")
    assert re.search(r'CMD \["serve"\]', (OPS / "Dockerfile").read_text())


def test_each_clickhouse_node_has_unique_macros(compose: dict[str, Any]) -> None:
    seen = set()
    for name in CLICKHOUSES:
        service = services(compose)[name]
        macros = mounted_xml(service, "/etc/clickhouse-server/config.d/macros.xml").find("macros")
        assert macros is not None
        shard, replica = macros.findtext("shard"), macros.findtext("replica")
        assert macros.findtext("cluster") == "tracegate"
        assert replica == name == service["hostname"], "replicas fetch parts from each other by host name"
        seen.add((shard, replica))
        assert bind_mounts(service)["/etc/clickhouse-server/config.d/tracegate-cluster.xml"] == (
            OPS / "clickhouse/config.d/tracegate-cluster.xml"
        )
    assert len(seen) == len(CLICKHOUSES)
    assert len({shard for shard, _ in seen}) == 2


def test_remote_servers_are_two_shards_of_two_replicas_matching_the_macros(compose: dict[str, Any]) -> None:
    config = ET.parse(OPS / "clickhouse/config.d/tracegate-cluster.xml").getroot()
    shards = config.findall("remote_servers/tracegate/shard")
    assert len(shards) == 2
    hosts = []
    for number, shard in enumerate(shards, start=1):
        assert shard.findtext("internal_replication") == "true"
        replicas = shard.findall("replica")
        assert len(replicas) == 2
        for replica in replicas:
            host = replica.findtext("host")
            assert host in CLICKHOUSES
            hosts.append(host)
            macros = mounted_xml(services(compose)[host], "/etc/clickhouse-server/config.d/macros.xml")
            assert macros.findtext("macros/shard") == str(number), f"{host} is listed in shard {number}"
    assert sorted(hosts) == sorted(CLICKHOUSES)
    assert config.find("remote_servers/tracegate/secret") is not None
    assert config.findtext("custom_settings_prefixes") == "SQL_"
    assert config.find("user_directories/replicated/zookeeper_path") is not None


def test_clickhouse_servers_use_the_three_keepers(compose: dict[str, Any]) -> None:
    config = ET.parse(OPS / "clickhouse/config.d/tracegate-cluster.xml").getroot()
    nodes = {(n.findtext("host"), n.findtext("port")) for n in config.findall("zookeeper/node")}
    ports = set()
    for name in KEEPERS:
        keeper = mounted_xml(services(compose)[name], "/etc/clickhouse-keeper/keeper_config.xml")
        ports.add(keeper.findtext("keeper_server/tcp_port"))
    assert len(ports) == 1
    port = ports.pop()
    assert nodes == {(name, port) for name in KEEPERS}


def test_keeper_raft_configuration_lists_three_keepers_with_unique_ids(compose: dict[str, Any]) -> None:
    raft_blocks = set()
    for name in sorted(KEEPERS):
        keeper = mounted_xml(services(compose)[name], "/etc/clickhouse-keeper/keeper_config.xml")
        servers = keeper.findall("keeper_server/raft_configuration/server")
        ids = [s.findtext("id") for s in servers]
        hostnames = [s.findtext("hostname") for s in servers]
        assert len(servers) == 3 and len(set(ids)) == 3
        assert set(hostnames) == KEEPERS
        own = dict(zip(hostnames, ids, strict=True))[name]
        assert keeper.findtext("keeper_server/server_id") == own, f"{name} must use its own raft id"
        raft_blocks.add(
            tuple((s.findtext("id"), s.findtext("hostname"), s.findtext("port")) for s in servers)
        )
    assert len(raft_blocks) == 1, "the raft configuration must be the same on every keeper"


def haproxy_sections() -> dict[str, list[str]]:
    """'backend gateways' -> its directive lines (comments dropped)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in (OPS / "haproxy/haproxy.cfg").read_text().splitlines():
        line = raw.split(" #")[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        if not raw[0].isspace():
            current = line
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def test_haproxy_hashes_devices_consistently_onto_the_gateway_services(compose: dict[str, Any]) -> None:
    sections = haproxy_sections()
    backend = sections["backend gateways"]
    assert "balance hdr(X-Device-Id)" in backend
    assert "hash-type consistent" in backend
    servers = {line.split()[1]: line.split()[2] for line in backend if line.startswith("server ")}
    assert set(servers) == GATEWAYS
    assert set(servers.values()) == {f"{name}:8080" for name in GATEWAYS}
    assert any(line.startswith("http-check send meth GET uri /") for line in backend)
    assert "bind :8080" in sections["frontend registers"]
    clickhouse = {
        line.split()[1] for line in sections["listen clickhouse_http"] if line.startswith("server ")
    }
    assert clickhouse == CLICKHOUSES
    # The gateways reach ClickHouse through this listener.
    for name in GATEWAYS:
        assert "@haproxy:8123/" in services(compose)[name]["environment"]["TRACEGATE_STORAGE_URL"]
    mounts = bind_mounts(services(compose)["haproxy"])
    for line in backend:
        if line.startswith("errorfile"):
            assert mounts[line.split()[2]].is_file()


def test_haproxy_accepts_its_config() -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed here")
    text = (
        (OPS / "haproxy/haproxy.cfg")
        .read_text()
        .replace("/usr/local/etc/haproxy/errors/", f"{OPS / 'haproxy/errors'}/")
    )
    result = subprocess.run(
        [binary, "-c", "-f", "/dev/stdin"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def systemd_unit() -> configparser.ConfigParser:
    """The unit file as sections of keys (systemd's syntax is close enough to INI for this)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((OPS / "systemd/tracegate.service").read_text())
    return parser


def test_systemd_unit_is_hardened_and_runs_serve() -> None:
    service = systemd_unit()["Service"]
    assert service["User"] == "tracegate"
    assert service["StateDirectory"] == "tracegate"
    assert service["ProtectSystem"] == "strict"
    assert "/var/lib/tracegate" in service["ReadWritePaths"].split()
    assert service["Restart"] == "on-failure"
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["NoNewPrivileges"] == "yes"
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/tracegate/.venv/bin/tracegate"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.data_dir, args.host, args.port) == (
        "serve",
        "/var/lib/tracegate",
        "0.0.0.0",
        8080,
    )
    assert systemd_unit()["Install"]["WantedBy"] == "multi-user.target"


def sql_statements(text: str) -> list[str]:
    """Statements of an SQL file: comments dropped, split on the semicolons that end lines."""
    body = "\n".join(line.split("--")[0] for line in text.splitlines())
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def rendered_sql() -> dict[str, list[str]]:
    """Every RBAC SQL file, with the placeholders apply.sh fills in."""
    sql = OPS / "clickhouse/sql"
    fills = {
        "__WRITER_PASSWORD__": "w" * 24,
        "__ANALYST_PASSWORD__": "a" * 24,
        "__TIN__": "123456789012",
        "__PASSWORD__": "r" * 24,
    }
    files = {}
    for path in sorted(sql.glob("*.sql")) + sorted(sql.glob("*.sql.template")):
        text = path.read_text()
        for placeholder, value in fills.items():
            text = text.replace(placeholder, value)
        assert "__" not in re.sub(r"retailer_\d+", "", text), (
            f"{path.name}: a placeholder apply.sh does not fill"
        )
        files[path.name] = sql_statements(text)
    return files


def test_rbac_sql_names_the_roles_it_creates() -> None:
    files = rendered_sql()
    everything = " ".join(s for statements in files.values() for s in statements)
    roles = set(re.findall(r"CREATE ROLE IF NOT EXISTS (\w+)", everything))
    assert roles == {"tracegate_writer_role", "tracegate_analyst_role", "tracegate_retailer"}
    for granted in re.findall(r"DEFAULT ROLE (\w+)", everything):
        assert granted in roles
    tenant = next(s for s in files["02_row_policies.sql"] if "tracegate_tenant_rows" in s)
    assert "getSetting('SQL_tracegate_tin')" in tenant and tenant.rstrip().endswith("TO tracegate_retailer")
    staff = next(s for s in files["02_row_policies.sql"] if "tracegate_staff_rows" in s)
    # Once a policy exists, unnamed users see nothing: the gateway and the analysts must be named.
    assert "tracegate_writer_role" in staff and "tracegate_analyst_role" in staff
    retailer = " ".join(files["retailer_user.sql.template"])
    assert "SQL_tracegate_tin = '123456789012' CONST" in retailer
    assert "tracegate_retailer_profile" in retailer


@pytest.mark.clickhouse
def test_rbac_sql_parses_with_clickhouses_own_parser() -> None:
    import chdb  # a dependency of the gateway (never skipped); imported here, where the test needs it
    for name, statements in rendered_sql().items():
        for statement in statements:
            literal = "'" + statement.replace("\\", "\\\\").replace("'", "\\'") + "'"
            try:
                chdb.query(f"SELECT formatQuery({literal})", "TSVRaw")
            except Exception as exc:  # chDB raises its own error type
                pytest.fail(f"{name}: {statement!r} does not parse: {exc}")


def run_apply_sh(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run apply.sh with a PATH that has no clickhouse-client: only its own checks can answer."""
    return subprocess.run(
        ["sh", str(OPS / "clickhouse/sql/apply.sh"), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=30,
        check=False,
    )


def test_apply_sh_refuses_bad_input_before_touching_clickhouse() -> None:
    assert "CLICKHOUSE_ADMIN_PASSWORD" in run_apply_sh("rbac").stderr
    admin = {"CLICKHOUSE_ADMIN_PASSWORD": "x" * 20}
    assert "TRACEGATE_WRITER_PASSWORD" in run_apply_sh("rbac", **admin).stderr
    bad_tin = run_apply_sh("retailer", "12345", "p" * 20, **admin)
    assert bad_tin.returncode == 2 and "12 digits" in bad_tin.stderr
    quote = run_apply_sh("retailer", "123456789012", "p" * 20 + "'; DROP", **admin)
    assert quote.returncode == 2 and "PASSWORD" in quote.stderr


def test_readme_names_files_that_exist_and_commands_that_parse() -> None:
    readme = (OPS / "README.md").read_text()
    for path in set(re.findall(r"(?<![\w/])ops/[\w./-]+\w", readme)):
        if "secrets/" in path or path.endswith("/.env"):
            continue  # made by the operator
        assert (REPO / path).exists(), f"ops/README.md mentions missing {path}"
    parser = build_parser()
    code = "\n".join(re.findall(r"^\s*```\w*\n(.*?)^\s*```", readme, re.MULTILINE | re.DOTALL))
    commands = re.findall(r"(?:^|\s|/)tracegate ((?:serve|migrate|devices)\b[^\n#|&>;]*)", code, re.MULTILINE)
    assert len(commands) >= 5
    for command in commands:
        words = shlex.split(command)
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"ops/README.md: `tracegate {command}` is not a valid command")


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "CLICKHOUSE_ADMIN_PASSWORD": "a" * 24,
        "CLICKHOUSE_CLUSTER_SECRET": "s" * 24,
        "TRACEGATE_WRITER_PASSWORD": "w" * 24,
        "TRACEGATE_ANALYST_PASSWORD": "n" * 24,
    }
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


class _StubGateway(ThreadingHTTPServer):
    """A stand-in gateway node on loopback that answers with its own name."""

    name = ""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # HAProxy's health checks hang up early; that is not a failure of the stub


class _StubHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({"node": self.server.name}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=b"batch", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_haproxy_keeps_each_device_on_one_node_and_answers_like_a_gateway(tmp_path: Path) -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed here")
    stubs = {}
    for name in sorted(GATEWAYS):
        stub = _StubGateway(("127.0.0.1", 0), _StubHandler)
        stub.name = name
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        stubs[name] = stub
    front = _free_port()
    # The real config, moved onto loopback ports and faster health checks; routing rules untouched.
    text = (OPS / "haproxy/haproxy.cfg").read_text()
    text = text.replace("/usr/local/etc/haproxy/errors/", f"{OPS / 'haproxy/errors'}/")
    text = text.replace("bind :8080", f"bind 127.0.0.1:{front}")
    text = text.replace("bind :8123", f"bind 127.0.0.1:{_free_port()}")
    text = text.replace("bind :8404", f"bind 127.0.0.1:{_free_port()}")
    text = text.replace("inter 2s fall 3 rise 2", "inter 100ms fall 1 rise 1")
    text = text.replace("maxconn 20000", "maxconn 1000")  # this machine's file limit is lower
    for name, stub in stubs.items():
        text = text.replace(f"{name}:8080", f"127.0.0.1:{stub.server_address[1]}")
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    proxy = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{front}"
    try:
        for _ in range(100):
            if proxy.poll() is not None:
                pytest.fail(f"haproxy exited: {proxy.stderr.read().decode() if proxy.stderr else ''}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", front), timeout=0.1).close()
                break
            time.sleep(0.05)

        def node_of(device: str) -> str:
            status, _, body = _post(f"{url}/v1/batches", {"X-Device-Id": device})
            assert status == 200
            return str(json.loads(body)["node"])

        devices = [f"KKM-{i:04d}" for i in range(40)]
        placement = {device: node_of(device) for device in devices}
        assert set(placement.values()) == GATEWAYS, "both nodes take devices"
        # Again, in another order and twice in a row: the same node each time (round robin alternates).
        for device in reversed(devices):
            assert node_of(device) == node_of(device) == placement[device], f"{device} moved"

        status, _, body = _post(f"{url}/v1/batches", {})
        assert status == 400 and json.loads(body)["error"] == "malformed_request"
        assert _post(f"{url}/v1/admin/devices", {"X-Device-Id": "KKM-0001"})[0] == 403

        stubs["gateway-2"].shutdown()
        stubs["gateway-2"].server_close()
        time.sleep(0.6)
        moved = {device: node_of(device) for device in devices}
        assert all(moved[d] == "gateway-1" for d in devices if placement[d] == "gateway-1")

        stubs["gateway-1"].shutdown()
        stubs["gateway-1"].server_close()
        time.sleep(0.6)
        status, headers, body = _post(f"{url}/v1/batches", {"X-Device-Id": "KKM-0001"})
        assert status == 503 and headers["retry-after"] == "5"
        assert json.loads(body) == {
            "error": "backpressure",
            "detail": "no gateway node is available; retry later",
            "retryable": True,
        }
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
