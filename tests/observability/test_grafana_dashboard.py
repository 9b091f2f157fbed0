"""The Grafana dashboard in ops/ queries only metrics the gateway exposes, and shows the important ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.observability.code_follow_metrics import CodeFollowMetrics
from gateway.observability.gateway_metrics import GatewayMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "tracegate.json"
_SUFFIXES = ("_bucket", "_sum", "_count")


def _queried_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    names: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names.update(re.findall(r"\btracegate_[a-z_]+", target["expr"]))
    return names


def _family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and not name.endswith("_total"):
            return name[: -len(suffix)]
    return name


def _exposed() -> set[str]:
    """Every family a gateway node can expose (the code follower's only on a cluster)."""
    return set(GatewayMetrics().registry.names()) | set(CodeFollowMetrics().registry.names())


def test_every_queried_metric_exists() -> None:
    exposed = _exposed()
    unknown = {name for name in _queried_metrics() if _family(name) not in exposed}
    assert not unknown


def test_the_operator_sees_every_metric_family() -> None:
    queried = {_family(name) for name in _queried_metrics()}
    assert _exposed() <= queried
