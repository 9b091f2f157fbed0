"""anomaly_case_actions fsyncs the parts it writes, as every other table does (migration 0008 says why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "anomaly_case_actions: fsync_after_insert, fsync_part_directory (0016 at first lacked them)"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node, the durable-parts settings on the table of migration 0016, for databases that applied it
    as first released (without them; on others this sets them again, harmlessly); a cluster needs none."""
    return ctx.durable("anomaly_case_actions")
