"""The cluster rendering of the schema agrees with the deployed cluster: its name, macros and Keeper paths."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from gateway.cli.main import build_parser
from gateway.settings import load_settings
from gateway.storage.migrations import render_schema
from gateway.storage.table_engine import Cluster

OPS = Path(__file__).resolve().parents[2] / "ops"


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((OPS / "docker-compose.cluster.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_migrate_and_gateways_name_the_cluster_the_servers_define() -> None:
    config = ET.parse(OPS / "clickhouse/config.d/tracegate-cluster.xml").getroot()
    remote = config.find("remote_servers")
    assert remote is not None
    [cluster] = [child.tag for child in remote]
    services = _compose()["services"]
    assert isinstance(services, dict)
    args = build_parser().parse_args(services["migrate"]["command"])
    assert args.cluster == cluster
    for name in ("gateway-1", "gateway-2"):
        cluster_env = str(services[name]["environment"]["TRACEGATE_CLUSTER"])
        assert load_settings(environ={"TRACEGATE_CLUSTER": cluster_env}).cluster == cluster, name


def test_every_macro_the_keeper_paths_use_is_defined_and_replicas_are_unique() -> None:
    macros_used = set()
    for statement in render_schema("tracegate", Cluster("tracegate")):
        for path, replica in re.findall(r"Replicated\w*MergeTree\('([^']+)', '([^']+)'", statement):
            macros_used |= set(re.findall(r"\{(\w+)\}", path + replica))
    # {database} and {table} are filled in by ClickHouse itself; the others come from each server's macros.
    server_macros = macros_used - {"database", "table"}
    assert server_macros == {"shard", "replica"}
    replicas = []
    for file in sorted((OPS / "clickhouse/macros").glob("*.xml")):
        macros = ET.parse(file).getroot().find("macros")
        assert macros is not None, file
        defined = {child.tag: (child.text or "") for child in macros}
        assert server_macros <= set(defined), file
        replicas.append(defined["replica"])
    # Unsharded tables share one Keeper path on every server: replica names must be unique cluster-wide.
    assert len(replicas) == 4 and len(set(replicas)) == len(replicas)
