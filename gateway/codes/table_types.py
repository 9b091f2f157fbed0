"""Types of the generated AI table, shared by its generator and its readers."""

from __future__ import annotations

# (kind, min_len, max_len, optional, linters): kind is N (digits), X (set 82), Y (set 39), Z (set 64).
Component = tuple[str, int, int, bool, tuple[str, ...]]
# (fixed_length, dl_attribute, components, req groups (each a tuple of AIs/patterns), ex patterns,
#  dlpkey alternatives (each a tuple of qualifier AIs; None when not a primary key), title)
AiEntry = tuple[
    bool, bool, tuple[Component, ...], tuple[tuple[str, ...], ...], tuple[str, ...],
    tuple[tuple[str, ...], ...] | None, str,
]
