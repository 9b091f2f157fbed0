"""Case work between two analysts over the API: someone else's case is changed only by taking it over."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.analyst.conftest import FORGED_DEVICE, Loaded, issue

pytestmark = pytest.mark.clickhouse


def _act(loaded: Loaded, token: str, incident: str, **body: Any) -> tuple[int, Any]:
    status, _, raw = loaded.gw.request(
        "POST", f"/v1/anomalies/{incident}/actions", json.dumps(body).encode(), "application/json", token
    )
    return status, json.loads(raw)


def test_another_analysts_case_is_changed_only_by_an_explicit_takeover(loaded: Loaded) -> None:
    colleague = issue(loaded.gw, "--scope", "analyst", "--label", "colleague")
    status, page = loaded.get("/v1/anomalies", loaded.analyst, device=FORGED_DEVICE, limit=1)
    assert status == 200 and page["items"], page
    incident = page["items"][0]["id"]
    assert _act(loaded, colleague, incident, action="assign")[0] == 200
    # Resolving, reopening, handing back or taking a colleague's case without taking it over is refused.
    for action in ("resolve", "unassign", "assign"):
        status, answer = _act(loaded, loaded.analyst, incident, action=action)
        assert status == 409 and answer["error"] == "conflict", answer
        assert "colleague works on this case" in answer["detail"]
    # A note is help, not a takeover.
    status, case = _act(loaded, loaded.analyst, incident, action="note", note="seen the Z-report too")
    assert status == 200 and case["case"]["assignee"] == "colleague"
    # Only true takes over: "yes" is no answer to "take it over?".
    status, answer = _act(loaded, loaded.analyst, incident, action="resolve", take_over="yes")
    assert (status, answer["detail"]) == (400, "take_over must be true or false"), answer
    # Taken over explicitly: recorded with who and from whom, before the action it allowed.
    status, case = _act(loaded, loaded.analyst, incident, action="resolve", take_over=True)
    assert status == 200, case
    assert case["case"] == {**case["case"], "assignee": "tests", "status": "resolved"}
    takeover, resolved = case["history"][-2:]
    assert takeover["action"] == "take_over" and takeover["actor_label"] == "tests"
    assert takeover["from"] == "colleague" and takeover["assignee"] == "tests"
    assert resolved["action"] == "resolve" and resolved["at_ms"] > takeover["at_ms"]
    # Now it is the colleague's turn to need a takeover; taking it over is one action, not two.
    assert _act(loaded, colleague, incident, action="reopen")[0] == 409
    status, case = _act(loaded, colleague, incident, action="assign", take_over=True)
    assert status == 200 and case["case"]["assignee"] == "colleague"
    assert [h["action"] for h in case["history"][-2:]] == ["resolve", "take_over"]
    status, mine = loaded.get("/v1/anomalies", colleague, device=FORGED_DEVICE, status="mine")
    assert incident in [i["id"] for i in mine["items"]]
