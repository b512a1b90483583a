"""The `monitoring` profile: Prometheus scrapes every bot process where it serves /metrics, and
the Grafana dashboard asks only for metrics `bot/metrics.py` exports (issue 14, "Deployment")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from storage.models import DatabaseCounts
from tests.deploy.conftest import REPO, read_yaml, with_defaults

Services = dict[str, dict[str, Any]]

# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up"}
# Labels Prometheus adds to every series it scrapes, and the buckets' own.
TARGET_LABELS = {"job", "instance", "le"}
# What the issue asks the dashboard to show, by the metric that shows it.
REQUIRED = {
    "codes delivered": "smsbot_tracker_codes_delivered_total",
    "code latency": "smsbot_tracker_code_latency_seconds_bucket",
    "live numbers": "smsbot_live_activations",
    "provider latency per action": "smsbot_provider_request_duration_seconds_bucket",
    "provider errors per action": "smsbot_provider_action_errors_total",
    "Telegram send queue": "smsbot_send_queue_depth",
    "handler latency": "smsbot_update_duration_seconds_bucket",
}
SMSBOT_NAME = re.compile(r"\bsmsbot_[a-zA-Z0-9_]+\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exported() -> dict[str, set[str]]:
    """Every series name a bot process's /metrics page can carry, with its labels: read from
    the page of a live registry with every instrument used once."""
    metrics = Metrics()
    metrics.observe_provider_call("getStatus", 0.1, "TIMEOUT")
    metrics.tracker_provider_errors.labels(code="BAD_KEY").inc()
    metrics.database.show(DatabaseCounts(1, 1, 1, 0, 1, 1, 1, 1))
    page = generate_latest(metrics.registry).decode()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(page):
        # A family without samples yet (labels never used) still has a name and a type.
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        for suffix in suffixes:
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    # A labelled family's labels, from its instrument when the page had no sample of it.
    names["smsbot_provider_dropped_items_total"].add("action")
    return names


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document = json.loads((REPO / "deploy/grafana/dashboards/bot.json").read_text())
    assert isinstance(document, dict)
    return document


def queries(dashboard: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert found
    return found


def test_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    datasource = read_yaml("deploy/grafana/provisioning/datasources/prometheus.yml")
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus"
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
            assert target["expr"].strip()


def test_dashboard_asks_only_for_exported_metrics(dashboard: dict[str, Any]) -> None:
    names = exported()
    for expr in queries(dashboard):
        used = set(SMSBOT_NAME.findall(expr))
        assert used <= set(names), (expr, used - set(names))
        # Every other series a query reads (by a selector) is one Prometheus makes itself.
        other = {
            name
            for name in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr)
            if not name.startswith("smsbot_")
        }
        assert other <= PROMETHEUS_SERIES, expr
        assert used or other, expr
        # Grouped by labels the series have.
        labels = set().union(*(names[name] for name in used)) | TARGET_LABELS
        for group in GROUPING.findall(expr):
            grouped = {label.strip() for label in group.split(",") if label.strip()}
            assert grouped <= labels, (expr, grouped - labels)


def test_dashboard_shows_what_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    text = "\n".join(queries(dashboard))
    for what, metric in REQUIRED.items():
        assert metric in text, what
    # Per action, where the issue says so.
    assert re.search(r"by \(le, action\) \(rate\(smsbot_provider_request_duration", text)
    assert "sum by (action) (rate(smsbot_provider_action_errors_total" in text


def test_database_figures_are_not_summed_over_processes(dashboard: dict[str, Any]) -> None:
    """Every process reads the same database for these: a sum would count them once per
    process."""
    database = ("live_activations", "live_rentals", "pending_purchases", "codes_delivered_total")
    for expr in queries(dashboard):
        for name in database:
            if re.search(rf"\bsmsbot_{name}\b", expr):
                assert re.fullmatch(rf"max\(smsbot_{name}\)", expr), expr


def bot_processes(services: Services) -> dict[str, str]:
    """Each service running the bot, with the port its /metrics is served on."""
    found = {}
    for name, spec in services.items():
        command = spec.get("command", ["python", "-m", "bot"])
        if spec.get("image") != services["bot"]["image"] or command[:3] != ["python", "-m", "bot"]:
            continue
        env = {key: with_defaults(value) for key, value in spec["environment"].items()}
        webhook = bool(env.get("WEBHOOK_URL"))
        found[name] = env["LISTEN_PORT"] if webhook else env["HEALTH_PORT"]
    return found


def test_prometheus_scrapes_every_bot_process_where_it_serves_metrics(
    compose_services: Services,
) -> None:
    config = read_yaml("deploy/prometheus.yml")
    targets: dict[str, str] = {}
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for group in job["static_configs"]:
            for target in group["targets"]:
                host, port = target.split(":")
                assert host not in targets, target
                targets[host] = port
    assert targets == bot_processes(compose_services)
    assert set(targets) == {"bot", "web-1", "web-2", "tracker-1", "tracker-2"}
    # Prometheus and Grafana find each other where Compose puts them.
    (source,) = read_yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose_services["prometheus"]["ports"]


async def test_metrics_are_served_at_the_path_prometheus_scrapes(
    services: Any, bot: Any, dp: Any
) -> None:
    from bot.web import build_web_app

    app = build_web_app(bot, dp, services, webhook=False)
    paths = {resource.canonical for resource in app.router.resources()}
    assert {"/metrics", "/healthz"} <= paths
