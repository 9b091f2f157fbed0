"""Random ids come from the OS generator a page at a time: still unique, uuid4-shaped, and never shared
with a forked child."""

from __future__ import annotations

import multiprocessing
import re
import uuid

from gateway.security.random_ids import random_bytes, random_id


def test_ids_are_distinct_uuid4s_across_many_pages() -> None:
    ids = [random_id() for _ in range(3_000)]  # ~12 pages of the OS generator
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and uuid.UUID(hex=i).version == 4 for i in ids)


def _child_bytes(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(random_bytes(16))


def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    random_bytes(16)  # the parent holds a page it has started on
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    child = context.Process(target=_child_bytes, args=(queue,))
    child.start()
    from_child = queue.get(timeout=20)
    child.join(20)
    assert from_child != random_bytes(16)
