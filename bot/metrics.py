"""A tiny metrics registry with the Prometheus text exposition format, written by hand.

No dependency: counters and one latency histogram are all the bot needs. `Metrics` records
provider calls (latency per action, errors per code); `trace_config()` plugs it into an aiohttp
session so every provider request is timed without the provider client knowing about metrics.
`bot/web.py` renders it, with live numbers from the database and the tracker's counters, at
`/metrics`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram

from bot.provider.errors import CLIENT_CODES, KNOWN_CODES
from bot.provider.parsing import dropped_items

PREFIX = "smsbot_"
# Seconds; provider answers take from tens of milliseconds to the 15 s timeout.
DEFAULT_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# Label values that would make a new series past the limits below are counted under this one.
OTHER = "other"
# Series per metric (label sets per counter, actions in the latency histogram): far more than
# the bot makes itself; a bound on what a remote answer or a crafted URL could add.
DEFAULT_MAX_SERIES = 200

Labels = tuple[tuple[str, str], ...]

_HTTP_STATUSES = frozenset(status.value for status in HTTPStatus)


def error_label(code: str | None) -> str:
    """The label (or stats key) a provider error code is counted under.

    Known protocol codes, the client's own codes and the standard HTTP statuses keep their
    name; anything else is "other": a provider can answer a new code every time, and each
    would otherwise become a series (and a dict key) for the life of the process."""
    code = code or ""
    if code in KNOWN_CODES or code in CLIENT_CODES:
        return code
    status = code.removeprefix("HTTP_")
    if status != code and status.isdigit() and len(status) == 3 and int(status) in _HTTP_STATUSES:
        return code
    return OTHER


def _labels(**labels: str) -> Labels:
    return tuple(sorted((key, str(value)) for key, value in labels.items()))


def escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline (exposition format rules)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Labels | Mapping[str, str]) -> str:
    items = labels.items() if isinstance(labels, Mapping) else labels
    if not items:
        return ""
    return "{" + ",".join(f'{key}="{escape_label(str(value))}"' for key, value in items) + "}"


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class MetricFamily:
    """One metric name with its type, help and samples; renders itself."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)  # (suffix, labels, v)

    def add(self, value: float, labels: Labels = (), suffix: str = "") -> MetricFamily:
        self.samples.append((suffix, labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for suffix, labels, value in self.samples:
            lines.append(f"{self.name}{suffix}{format_labels(labels)} {format_value(value)}")
        return "\n".join(lines) + "\n"


def render(families: Iterable[MetricFamily]) -> str:
    return "".join(family.render() for family in families)


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int]
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1


class Metrics:
    """Counters and the provider-latency histogram of one bot process."""

    def __init__(
        self, buckets: tuple[float, ...] = DEFAULT_BUCKETS, max_series: int = DEFAULT_MAX_SERIES
    ) -> None:
        self.buckets = tuple(sorted(buckets))
        self.max_series = max(1, max_series)
        self._lock = threading.Lock()  # cheap; keeps render() consistent if read from a thread
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._help: dict[str, str] = {}
        self._latency: dict[str, _Histogram] = {}
        # The tracker's instruments (part T increments them where things happen).
        self.registry = CollectorRegistry(auto_describe=True)
        self.tracker_ticks = Counter(
            "smsbot_tracker_ticks", "Tracker passes.", registry=self.registry
        )
        self.tracker_polls = Counter(
            "smsbot_tracker_polls",
            "Tracker polls (listings and getStatus).",
            registry=self.registry,
        )
        self.tracker_provider_requests = Counter(
            "smsbot_tracker_provider_requests",
            "Provider requests made by the tracker.",
            registry=self.registry,
        )
        self.tracker_provider_errors = Counter(
            "smsbot_tracker_provider_errors",
            "Provider errors seen by the tracker, by code (bounded by error_label).",
            ["code"],
            registry=self.registry,
        )
        self.tracker_provider_latency = Histogram(
            "smsbot_tracker_provider_latency_seconds",
            "Latency of the tracker's provider requests.",
            buckets=self.buckets,
            registry=self.registry,
        )
        self.codes_delivered = Counter(
            "smsbot_tracker_codes_delivered", "Codes delivered to a chat.", registry=self.registry
        )
        self.rental_sms_delivered = Counter(
            "smsbot_tracker_rental_sms_delivered",
            "Rental SMS delivered to a chat.",
            registry=self.registry,
        )
        self.auto_cancels = Counter(
            "smsbot_tracker_auto_cancels",
            "Numbers cancelled by the tracker.",
            registry=self.registry,
        )
        self.adopted = Counter(
            "smsbot_tracker_adopted",
            "Numbers adopted from purchases with an unknown outcome.",
            registry=self.registry,
        )

    # --- recording ---

    def inc(self, name: str, amount: float = 1.0, *, help: str = "", **labels: str) -> None:
        """Add to a counter; `name` without the prefix, conventionally ending in `_total`."""
        key = _labels(**labels)
        with self._lock:
            series = self._counters[name]
            if key not in series and len(series) >= self.max_series - 1:
                # The last series left is the "other" bucket every further label set shares.
                key = _labels(**dict.fromkeys(labels, OTHER))
            series[key] = series.get(key, 0.0) + amount
            if help:
                self._help.setdefault(name, help)

    def observe_provider_call(
        self, action: str, seconds: float, error_code: str | None = None
    ) -> None:
        """One provider request: its action, how long it took, and its error code if it failed."""
        action = action or "unknown"
        with self._lock:
            if action not in self._latency and len(self._latency) >= self.max_series - 1:
                action = OTHER
            histogram = self._latency.get(action)
            if histogram is None:
                histogram = _Histogram(self.buckets, [0] * len(self.buckets))
                self._latency[action] = histogram
            histogram.observe(max(seconds, 0.0))
        self.inc("provider_requests_total", action=action, help="Provider requests by action.")
        if error_code:
            self.inc(
                "provider_errors_total",
                code=error_label(error_code),
                help="Provider errors by code (transport faults and protocol error answers).",
            )

    # --- reading ---

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(_labels(**labels), 0.0)

    def latency_count(self, action: str) -> int:
        with self._lock:
            histogram = self._latency.get(action)
            return histogram.count if histogram else 0

    def families(self) -> list[MetricFamily]:
        with self._lock:
            families = []
            for name in sorted(self._counters):
                family = MetricFamily(PREFIX + name, "counter", self._help.get(name, name))
                for labels, value in sorted(self._counters[name].items()):
                    family.add(value, labels)
                families.append(family)
            latency = MetricFamily(
                PREFIX + "provider_request_duration_seconds",
                "histogram",
                "Provider request latency by action.",
            )
            for action, histogram in sorted(self._latency.items()):
                for bound, count in zip(self.buckets, histogram.counts, strict=True):
                    le = format_value(bound) if not float(bound).is_integer() else f"{bound:.1f}"
                    latency.add(count, _labels(action=action, le=le), "_bucket")
                latency.add(histogram.count, _labels(action=action, le="+Inf"), "_bucket")
                latency.add(histogram.total, _labels(action=action), "_sum")
                latency.add(histogram.count, _labels(action=action), "_count")
            families.append(latency)
            families.append(_dropped_items_family())
            return families

    def render(self) -> str:
        return render(self.families())

    # --- aiohttp instrumentation ---

    def trace_config(self) -> aiohttp.TraceConfig:
        """Times every request of the session it is given to, by its `action` query parameter.

        Failures seen at the transport (exceptions, HTTP error statuses) are counted as
        NETWORK / TIMEOUT / HTTP_<status>; protocol error answers (NO_BALANCE, ...) arrive in a
        200 body and are counted by whoever parses them, through `observe_provider_call`... or
        by the tracker's own counters.
        """
        config = aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
        ) -> None:
            context.started = time.monotonic()
            # Only the action name is kept; the URL (it carries the API key) never is.
            context.action = params.url.query.get("action", "unknown")

        async def on_end(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
        ) -> None:
            status = params.response.status
            error = f"HTTP_{status}" if status >= 400 else None
            self.observe_provider_call(context.action, time.monotonic() - context.started, error)

        async def on_exception(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
        ) -> None:
            exc = params.exception
            timed_out = isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
            error = "TIMEOUT" if timed_out else "NETWORK"
            self.observe_provider_call(context.action, time.monotonic() - context.started, error)

        config.on_request_start.append(on_start)
        config.on_request_end.append(on_end)
        config.on_request_exception.append(on_exception)
        return config


def _dropped_items_family() -> MetricFamily:
    """Malformed items the provider parsers dropped from list answers (the parsers count them
    process-wide, per action from a fixed set: the label set stays bounded)."""
    family = MetricFamily(
        PREFIX + "provider_dropped_items_total",
        "counter",
        "Malformed items dropped from provider list answers, by action.",
    )
    for action, count in sorted(dropped_items().items()):
        family.add(count, _labels(action=action))
    return family


# The process-wide registry; tests make their own.
METRICS = Metrics()
