"""Case work on an incident: take it, hand it back, resolve, reopen, note; who did what and when.

Actions are appended to `anomaly_case_actions` (migration 0016) and to the audit log by the route; the
state of a case is its latest actions. Changing a case another analyst holds (take, hand back, resolve,
reopen) is refused unless asked for explicitly (take_over), so two analysts do not work the same case
without knowing it; a takeover is stored as its own action (`take_over`: who took it from whom, when).
Notes stay open to everyone: writing on a colleague's case is how analysts help each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.anomalies import ASSIGNING, AnomalyQueue

ACTIONS = ("assign", "unassign", "resolve", "reopen", "note")
TAKE_OVER = "take_over"  # stored, never requested: an action with take_over set on someone else's case
MAX_NOTE = 2000
COLUMNS = ["incident_id", "seller_tin", "action", "assignee", "note", "actor", "actor_label", "at"]


def actor_name(principal: Principal) -> str:
    """How a person is named in the case: their token's label, else its id."""
    return principal.label or principal.token_id


@dataclass(frozen=True)
class CaseAction:
    """One requested action on an incident."""

    action: str
    assignee: str = ""
    note: str = ""
    take_over: bool = False

    @staticmethod
    def parse(body: Any) -> CaseAction:
        """A JSON body {action, assignee?, note?, take_over?} as an action (malformed_request if not)."""
        if not isinstance(body, dict) or body.get("action") not in ACTIONS:
            raise GatewayError(errors.MALFORMED_REQUEST, f"action must be one of {', '.join(ACTIONS)}")
        note = body.get("note") or ""
        assignee = body.get("assignee") or ""
        if not isinstance(note, str) or not isinstance(assignee, str):
            raise GatewayError(errors.MALFORMED_REQUEST, "note and assignee must be JSON strings")
        if not isinstance(body.get("take_over", False), bool):
            raise GatewayError(errors.MALFORMED_REQUEST, "take_over must be true or false")
        if len(note) > MAX_NOTE:
            params = {"most": MAX_NOTE, "length": len(note)}
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.note_too_long", params=params)
        if body["action"] == "note" and not note.strip():
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.note_empty")
        return CaseAction(
            str(body["action"]), assignee.strip()[:200], note.strip(), bool(body.get("take_over"))
        )


def history(client: Any, db: str, incident: str) -> list[dict[str, Any]]:
    """Every action on an incident, oldest first; a takeover names whom the case was taken from."""
    rows = client.query(
        "SELECT action, assignee, note, actor, actor_label, toUnixTimestamp64Milli(at)"
        f" FROM {db}.anomaly_case_actions"
        " WHERE incident_id = {id:String} ORDER BY at",
        parameters={"id": incident},
    ).result_rows
    names = ["action", "assignee", "note", "actor", "actor_label", "at_ms"]
    out, holder = [], ""
    for r in rows:
        item: dict[str, Any] = dict(zip(names, (*map(str, r[:5]), int(r[5])), strict=True))
        if item["action"] == TAKE_OVER:
            item["from"] = holder
        if item["action"] in ASSIGNING:
            holder = item["assignee"]
        out.append(item)
    return out


def act(client: Any, db: str, principal: Principal, incident: str, action: CaseAction) -> dict[str, Any]:
    """Apply an action (staff only) and return the incident with its case and history."""
    if principal.is_retailer:
        raise GatewayError(errors.FORBIDDEN, "case work is for the tax authority's analysts")
    queue = AnomalyQueue(client, db, principal)
    current = queue.incident(incident)  # not_found if there is no such incident
    me = actor_name(principal)
    holder = current["case"]["assignee"]
    assignee = (action.assignee or me) if action.action == "assign" else ""
    rows: list[tuple[str, str, str]] = []  # (action, assignee, note)
    theirs = holder not in ("", me) and not (action.action == "assign" and assignee == holder)
    if theirs and action.action != "note":
        if not action.take_over:
            raise GatewayError(
                errors.CONFLICT, f"{holder} works on this case; take it over first (take_over: true)"
            )
        rows.append((TAKE_OVER, me, ""))
    if not (rows and action.action == "assign" and assignee == me):  # taking it over is taking it
        rows.append((action.action, assignee, action.note))
    now = int(time.time() * 1000)
    # One millisecond apart, so the takeover comes before the action it allows, in state and history.
    client.insert(
        "anomaly_case_actions",
        [
            [incident, current["seller_tin"], name, who, note, principal.token_id, principal.label, now + i]
            for i, (name, who, note) in enumerate(rows)
        ],
        column_names=COLUMNS,
        database=db,
    )
    return case_view(client, db, principal, incident)


def case_view(client: Any, db: str, principal: Principal, incident: str, lang: str = "en") -> dict[str, Any]:
    """An incident with its facets, and for staff its case history."""
    item = AnomalyQueue(client, db, principal, lang).incident(incident)
    if not principal.is_retailer:
        item["history"] = history(client, db, incident)
    return item
