"""Storage test set-up: one chDB directory for the whole process, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from tests.storage.journal_records import storage_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data dir and database."""
    return storage_settings(tmp_path)


@pytest.fixture
def storage(settings: Settings) -> Iterator[Storage]:
    """Open storage on a fresh, migrated database."""
    opened = Storage.open(settings)
    opened.run_sync(lambda c: apply_migrations(c, opened.database))
    yield opened
    opened.close()
