"""The read side as routes call it: one object per concern, for one reader, in that reader's language.

`Reads(storage, principal, lang).anomalies.page(filter)`: which thread serves the query, on which
connection and database, is this module's business, not the route's. Each concern's queries stay in its
own module (trace.py, anomalies.py, …); storage failures propagate to the one error middleware.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.auth.tokens import Principal
from gateway.query.anomalies import AnomalyFilter, AnomalyQueue
from gateway.query.anomaly_cases import CaseAction, act, case_view
from gateway.query.books import BookEntry, compare_books
from gateway.query.code_statuses import code_statuses
from gateway.query.dashboard import dashboard
from gateway.query.export import DevicePlan, ExportRequest, plan_export
from gateway.query.receipts import ReceiptFilter, Receipts
from gateway.query.reconcile import reconcile_day
from gateway.query.refusals import RefusalFilter, RegisterRefusals
from gateway.query.trace import trace_code
from gateway.storage.client import Storage

T = TypeVar("T")


@dataclass(frozen=True)
class _Concern:
    storage: Storage
    principal: Principal
    lang: str

    async def _run(self, query: Callable[[Any, str], T]) -> T:
        """query(client, database) on the storage thread."""
        storage = self.storage
        return await storage.run(lambda client: query(client, storage.database))


class Trace(_Concern):
    """Where a marking code went."""

    async def of(self, code: str) -> dict[str, Any]:
        """Registry entry, events in time order, status and anomalies of one code."""
        return await self._run(lambda c, db: trace_code(c, db, self.principal, code, self.lang))


class Anomalies(_Concern):
    """The incident queue and the case work on each incident."""

    async def page(
        self, flt: AnomalyFilter, *, limit: int = 100, cursor: str | None = None, counts: bool = False
    ) -> dict[str, Any]:
        """One page of incidents; with counts, the filter's total and counts by kind too."""

        def read(client: Any, db: str) -> dict[str, Any]:
            queue = AnomalyQueue(client, db, self.principal, self.lang)
            page = queue.page(flt, limit=limit, cursor=cursor)
            if counts:
                counted = queue.counts(flt)
                page["total"], page["counts"] = counted["total"], counted["by_kind"]
            return page

        return await self._run(read)

    async def incident(self, incident: str) -> dict[str, Any]:
        """One incident with its facets, and for staff its case."""
        return await self._run(lambda c, db: case_view(c, db, self.principal, incident, self.lang))

    async def act(self, incident: str, action: CaseAction) -> dict[str, Any]:
        """Take, hand back, resolve, reopen or note an incident."""
        return await self._run(lambda c, db: act(c, db, self.principal, incident, action))


class Reconcile(_Concern):
    """A seller's day and books against what was stored."""

    async def day(self, tin: str | None, day: dt.date) -> dict[str, Any]:
        """Each shift's Z-report against its receipts, missing documents, rejections."""
        return await self._run(lambda c, db: reconcile_day(c, db, self.principal, tin, day, self.lang))

    async def books(
        self, tin: str | None, books: list[BookEntry], *, day: dt.date | None, since: dt.date | None,
        until: dt.date | None, status: str | None,
    ) -> dict[str, Any]:
        """An uploaded books file compared with our receipts."""
        return await self._run(lambda c, db: compare_books(
            c, db, self.principal, tin, books, day=day, since=since, until=until, status=status
        ))

    async def dashboard(self, tin: str | None, since_ms: int | None, until_ms: int | None) -> dict[str, Any]:
        """Dashboard figures for a time range."""
        return await self._run(lambda c, db: dashboard(
            c, db, self.principal, tin=tin, since_ms=since_ms, until_ms=until_ms
        ))


class ReceiptReads(_Concern):
    """Receipts, registers and code statuses as a seller or the authority sees them."""

    async def page(self, flt: ReceiptFilter, *, limit: int, cursor: str | None) -> dict[str, Any]:
        """One page of receipts."""
        return await self._run(
            lambda c, db: Receipts(c, db, self.principal).page(flt, limit=limit, cursor=cursor)
        )

    async def one(self, device: str, seq: int) -> dict[str, Any]:
        """One receipt: lines, verdicts, anomalies in the reader's words, the signed original."""
        return await self._run(lambda c, db: Receipts(c, db, self.principal, self.lang).receipt(device, seq))

    async def register(self, device: str) -> dict[str, Any]:
        """A register's Z-reports and its X-report."""
        return await self._run(lambda c, db: Receipts(c, db, self.principal).register(device))

    async def refusals(self, flt: RefusalFilter, *, limit: int, cursor: str | None) -> dict[str, Any]:
        """A register's refusals of a period: counts by error code and one page, newest first."""

        def read(client: Any, db: str) -> dict[str, Any]:
            refusals = RegisterRefusals(client, db, self.principal, self.lang)
            return refusals.page(flt, limit=limit, cursor=cursor)

        return await self._run(read)

    async def code_statuses(self, codes: list[str]) -> dict[str, Any]:
        """Each code's status and history."""
        return await self._run(lambda c, db: code_statuses(c, db, self.principal, codes))


class Exports(_Concern):
    """Audit exports."""

    async def plan(self, wanted: ExportRequest) -> list[DevicePlan]:
        """What an export of these devices (or a seller's) will hold."""
        return await self._run(lambda c, db: plan_export(c, db, self.principal, wanted))


@dataclass(frozen=True)
class Reads:
    """Every concern of the read side for one reader."""

    storage: Storage
    principal: Principal
    lang: str = "en"

    @property
    def trace(self) -> Trace:
        """Where a code went."""
        return Trace(self.storage, self.principal, self.lang)

    @property
    def anomalies(self) -> Anomalies:
        """The incident queue and case work."""
        return Anomalies(self.storage, self.principal, self.lang)

    @property
    def reconcile(self) -> Reconcile:
        """Days, books, the dashboard."""
        return Reconcile(self.storage, self.principal, self.lang)

    @property
    def receipts(self) -> ReceiptReads:
        """Receipts, registers, code statuses."""
        return ReceiptReads(self.storage, self.principal, self.lang)

    @property
    def exports(self) -> Exports:
        """Audit exports."""
        return Exports(self.storage, self.principal, self.lang)
