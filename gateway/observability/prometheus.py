"""A small Prometheus registry: counters, gauges and histograms with labels, rendered in text format 0.0.4."""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelValues = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """Backslash, double quote and newline escaped, as the text format requires inside "..."."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Backslash and newline escaped, as the text format requires in HELP lines."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, infinities as +Inf/-Inf, NaN as NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"bad metric name {name!r}")
        for label in labels:
            if not _LABEL_RE.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"bad label name {label!r}")
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._label_set = frozenset(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        # Once per observation (every HTTP request): the names' set made once, the values without a generator.
        if labels.keys() != self._label_set:
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple([str(labels[n]) for n in self.label_names])

    def header(self) -> list[str]:
        """The HELP and TYPE lines."""
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        """The sample lines."""
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (resets when the process restarts)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add amount (>= 0)."""
        if amount < 0:
            raise ValueError("a counter cannot go down")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set_total(self, total: float, **labels: str) -> None:
        """Set the running total kept elsewhere (a stage's own count since start)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = max(total, self._values.get(key, 0.0))

    def value(self, **labels: str) -> float:
        """The current value (0 if never touched)."""
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        """One line per label set."""
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {format_value(v)}" for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        """Set the value."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def replace_all(self, values: Iterable[tuple[dict[str, str], float]]) -> None:
        """Replace every label set at once (series that vanished are dropped)."""
        fresh = {self._key(labels): value for labels, value in values}
        with self._lock:
            self._values = fresh

    def value(self, **labels: str) -> float:
        """The current value (0 if never set)."""
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        """One line per label set."""
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {format_value(v)}" for k, v in items]


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labels)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        self.bounds = tuple(bounds)
        self._counts: dict[LabelValues, list[int]] = {}  # per bucket (not cumulative), last = +Inf
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation."""
        key = self._key(labels)
        index = bisect.bisect_left(self.bounds, value)  # le is inclusive: value == bound goes in it
        with self._lock:
            counts = self._counts.get(key)
            if counts is None:  # a new label set: its bucket list made once, not on every observation
                counts = self._counts[key] = [0] * (len(self.bounds) + 1)
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        """How many observations."""
        return sum(self._counts.get(self._key(labels), []))

    def samples(self) -> list[str]:
        """_bucket lines (cumulative, ending with le="+Inf"), then _sum and _count, per label set."""
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        names = (*self.label_names, "le")
        lines: list[str] = []
        for key, counts, total in items:
            running = 0
            for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
                running += n
                lines.append(f"{self.name}_bucket{_labels(names, (*key, format_value(bound)))} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {format_value(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return lines


class Registry:
    """The metrics of one process, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def add(self, metric: _Metric) -> None:
        """Register a metric (names are unique)."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric

    def names(self) -> list[str]:
        """Names of the registered metrics."""
        return list(self._metrics)

    def render(self) -> str:
        """The whole exposition in the Prometheus text format."""
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
