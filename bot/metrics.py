"""The bot's Prometheus instruments, made once per `Metrics` on a registry of its own.

`Metrics` holds every instrument the bot increments: provider calls (timed through the
`timing_middleware()` given to the provider session, so the provider client knows nothing of
metrics), the tracker's counters (the tracker increments them where things happen), and, read
at scrape time, the tracker's running state and the live numbers of the database. `bot/web.py`
serves `metrics.registry` at `/metrics`. Each `Metrics()` has its own `CollectorRegistry`, so a
test (or a second bot in one process) builds as many as it likes.

Every label set is bounded by construction: actions come from the client's closed set of
protocol actions and error codes from `error_label`; anything else counts under "other".
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http import HTTPStatus

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.provider.client import ACTIONS
from bot.provider.errors import CLIENT_CODES, KNOWN_CODES
from bot.provider.parsing import LIST_ACTIONS, dropped_items
from storage.models import DatabaseCounts

# No `*_created` series: they double the page and nothing here reads when a counter was made.
# (A process-wide switch of the library; the bot is its only user in the process.)
disable_created_metrics()

PREFIX = "smsbot_"
# Seconds; provider answers take from tens of milliseconds to the 15 s timeout.
DEFAULT_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# Seconds an update takes through the dispatcher: milliseconds when all is well, seconds when
# updates queue for the event loop or the database.
UPDATE_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds from the tracker finding a code to the chat taking it (the send queue's share of a
# code's latency; a code found while its chat is paced by Telegram waits a second or more).
CODE_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# The label value every value outside a closed set is counted under.
OTHER = "other"

_HTTP_STATUSES = frozenset(status.value for status in HTTPStatus)


def error_label(code: str | None) -> str:
    """The label a provider error code is counted under.

    Known protocol codes, the client's own codes and the standard HTTP statuses keep their
    name; anything else is "other": a provider can answer a new code every time, and each
    would otherwise become a series for the life of the process."""
    code = code or ""
    if code in KNOWN_CODES or code in CLIENT_CODES:
        return code
    status = code.removeprefix("HTTP_")
    if status != code and status.isdigit() and len(status) == 3 and int(status) in _HTTP_STATUSES:
        return code
    return OTHER


def action_label(action: str | None) -> str:
    """The label a provider action is counted under: one the client sends, else "other" (the
    action of a request comes from its URL, which whoever made the request chose)."""
    return action if action in ACTIONS else OTHER


class Metrics:
    """Every instrument of one bot process, on `self.registry`."""

    def __init__(self, buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry

        # Provider calls, as the aiohttp session sees them (see timing_middleware).
        self._by_action: dict[str, tuple[Histogram, Counter]] = {}
        self.provider_requests = Counter(
            PREFIX + "provider_requests",
            "Provider requests by action.",
            ["action"],
            registry=registry,
        )
        self.provider_errors = Counter(
            PREFIX + "provider_errors",
            "Provider errors by code (transport faults and HTTP error statuses).",
            ["code"],
            registry=registry,
        )
        self.provider_action_errors = Counter(
            PREFIX + "provider_action_errors",
            "Provider requests that failed at the transport (as provider_errors), by action.",
            ["action"],
            registry=registry,
        )
        self.provider_latency = Histogram(
            PREFIX + "provider_request_duration_seconds",
            "Provider request latency by action.",
            ["action"],
            buckets=sorted(buckets),
            registry=registry,
        )

        # The tracker's work; the tracker increments these where things happen.
        self.tracker_ticks = Counter(
            PREFIX + "tracker_ticks", "Tracker passes started.", registry=registry
        )
        self.tracker_polls = Counter(
            PREFIX + "tracker_polls", "Numbers the tracker polled.", registry=registry
        )
        self.tracker_provider_requests = Counter(
            PREFIX + "tracker_provider_requests",
            "Provider requests the tracker made.",
            registry=registry,
        )
        self.tracker_provider_errors = Counter(
            PREFIX + "tracker_provider_errors",
            "Provider errors the tracker met, by code (through error_label).",
            ["code"],
            registry=registry,
        )
        self.tracker_provider_latency = Histogram(
            PREFIX + "tracker_provider_latency_seconds",
            "Latency of the tracker's provider requests.",
            buckets=sorted(buckets),
            registry=registry,
        )
        self.codes_delivered = Counter(
            PREFIX + "tracker_codes_delivered",
            "Activation codes the tracker delivered.",
            registry=registry,
        )
        self.code_latency = Histogram(
            PREFIX + "tracker_code_latency_seconds",
            "Seconds from the tracker finding a code to the chat taking it.",
            buckets=CODE_BUCKETS,
            registry=registry,
        )
        self.rental_sms_delivered = Counter(
            PREFIX + "tracker_rental_sms_delivered",
            "Rental SMS the tracker delivered.",
            registry=registry,
        )
        self.auto_cancels = Counter(
            PREFIX + "tracker_auto_cancels",
            "Codeless numbers the tracker cancelled before they expired.",
            registry=registry,
        )
        self.adopted = Counter(
            PREFIX + "tracker_adopted",
            "Numbers of unknown purchase outcomes the tracker found bought and stored.",
            registry=registry,
        )

        self.send_queue_depth = Gauge(
            PREFIX + "send_queue_depth",
            "Messages waiting in (or on their way from) the Telegram send queue.",
            registry=registry,
        )
        self.send_queue_dropped = Counter(
            PREFIX + "send_queue_dropped",
            "Card edits and notices the full send queue dropped (codes are offered again).",
            registry=registry,
        )

        # Every update through the dispatcher, waiting for a free slot included (the outermost
        # middleware times it): what a user waits for between a tap and the answer.
        self.update_latency = Histogram(
            PREFIX + "update_duration_seconds",
            "Seconds an update took through the dispatcher's middlewares and handler.",
            buckets=UPDATE_BUCKETS,
            registry=registry,
        )

        # Read at scrape time (bot/web.py).
        self.tracker_running = Gauge(
            PREFIX + "tracker_running",
            "1 while this process's tracker loop runs (0 also when it has no tracker).",
            registry=registry,
        )
        self.scrape_duration = Gauge(
            PREFIX + "scrape_duration_seconds",
            "Time to read the database for the last /metrics page.",
            registry=registry,
        )
        self.database = DatabaseCollector()
        registry.register(self.database)
        registry.register(DroppedItemsCollector())

    def observe_provider_call(
        self, action: str | None, seconds: float, error_code: str | None = None
    ) -> None:
        """One provider request: its action, how long it took, and its error code if it failed."""
        label = action_label(action)
        latency, requests = self._action_children(label)
        latency.observe(max(seconds, 0.0))
        requests.inc()
        if error_code:
            self.provider_errors.labels(code=error_label(error_code)).inc()
            self.provider_action_errors.labels(action=label).inc()

    def _action_children(self, label: str) -> tuple[Histogram, Counter]:
        """The latency and request series of one action label, looked up by the library once:
        `labels()` validates and locks on every call (about 8 µs, twice for every provider
        request). Bounded like the labels themselves (`action_label`'s closed set)."""
        children = self._by_action.get(label)
        if children is None:
            children = (
                self.provider_latency.labels(action=label),
                self.provider_requests.labels(action=label),
            )
            self._by_action[label] = children
        return children

    def timing_middleware(self) -> aiohttp.ClientMiddlewareType:
        """An aiohttp client middleware timing every request of the session it is given to
        (up to the answer's headers), by its `action` query parameter.

        Failures seen at the transport (exceptions, HTTP error statuses) are counted as
        NETWORK / TIMEOUT / HTTP_<status>; protocol error answers (NO_BALANCE, ...) arrive in a
        200 body and are counted by the tracker's own instruments. A middleware, not an aiohttp
        TraceConfig: tracing fires a dozen signals per request, each building its parameters
        (a few % of a core at 600 requests a second).
        """

        async def timed(
            request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            # Only the action name is kept; the URL (it carries the API key) never is.
            action = request.url.query.get("action")
            started = time.monotonic()
            try:
                response = await handler(request)
            except (TimeoutError, aiohttp.ServerTimeoutError):
                self.observe_provider_call(action, time.monotonic() - started, "TIMEOUT")
                raise
            except Exception:
                self.observe_provider_call(action, time.monotonic() - started, "NETWORK")
                raise
            status = response.status
            error = f"HTTP_{status}" if status >= 400 else None
            self.observe_provider_call(action, time.monotonic() - started, error)
            return response

        return timed


# (field of DatabaseCounts = metric name, help). Gauges are what is live now; the counters only
# grow (rows are never deleted) and survive restarts, since they come from the database.
_DATABASE_GAUGES: tuple[tuple[str, str], ...] = (
    ("live_activations", "Activations waiting for or holding a code."),
    ("live_rentals", "Active rentals."),
    ("users", "Users who have started the bot."),
    ("pending_purchases", "Purchases with an unknown outcome."),
)
_DATABASE_COUNTERS: tuple[tuple[str, str], ...] = (
    ("codes_delivered", "Activation codes delivered to a chat."),
    ("rental_sms_delivered", "Rental SMS delivered to a chat."),
    ("activations_bought", "Activation numbers bought."),
    ("rentals_bought", "Numbers rented."),
)


class DatabaseCollector(Collector):
    """The database's numbers as of the last read: the `/metrics` handler reads them (the
    database is async, a collector is not) and hands them over with `show()`."""

    def __init__(self) -> None:
        self.counts: DatabaseCounts | None = None

    def show(self, counts: DatabaseCounts | None) -> None:
        """Publish these counts; None (the database could not be read) publishes none."""
        self.counts = counts

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        counts = self.counts
        return list(self._families(counts)) if counts is not None else []

    @staticmethod
    def _families(counts: DatabaseCounts | None) -> Iterable[Metric]:
        for name, help_text in _DATABASE_GAUGES:
            value = None if counts is None else getattr(counts, name)
            yield GaugeMetricFamily(PREFIX + name, help_text, value=value)
        for name, help_text in _DATABASE_COUNTERS:
            value = None if counts is None else getattr(counts, name)
            yield CounterMetricFamily(PREFIX + name, help_text, value=value)


class DroppedItemsCollector(Collector):
    """Malformed items the provider parsers dropped from list answers. The parsers count them
    process-wide (they know nothing of metrics), per action of a fixed set: bounded labels."""

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for action, count in sorted(dropped_items().items()):
            if action in LIST_ACTIONS:
                family.add_metric([action], count)
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            PREFIX + "provider_dropped_items",
            "Malformed items dropped from provider list answers, by action.",
            labels=["action"],
        )
