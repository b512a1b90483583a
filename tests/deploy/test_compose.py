"""docker-compose.yml: the single-process default, the `sandbox`, `scale` and `monitoring`
profiles, and the files they mount (issue 14, "Deployment"). Docker is not needed: the file
is read with the strict YAML reader and checked against what each service must run."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.conftest import REPO, VARIABLE, read_yaml, with_defaults

Services = dict[str, dict[str, Any]]

SCALE = {"postgres", "redis", "web-1", "web-2", "tracker-1", "tracker-2", "proxy"}
MONITORING = {"prometheus", "grafana"}
WEB = ("web-1", "web-2")
TRACKERS = ("tracker-1", "tracker-2")


def profile(services: Services, name: str) -> set[str]:
    return {service for service, spec in services.items() if name in spec.get("profiles", [])}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {name: with_defaults(value) for name, value in env.items()}


def bind_mounts(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume that is a path of the repository."""
    mounts = []
    for volume in spec.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def test_profiles_hold_the_services_they_are_for(compose_services: Services) -> None:
    assert {name for name, spec in compose_services.items() if "profiles" not in spec} == {"bot"}
    assert profile(compose_services, "sandbox") == {"sandbox"}
    assert profile(compose_services, "scale") == SCALE
    assert profile(compose_services, "monitoring") == MONITORING
    for name, spec in compose_services.items():
        assert len(spec.get("profiles", [])) <= 1, name


def test_the_default_bot_is_the_single_process_install(compose_services: Services) -> None:
    """`docker compose up -d` (the README's quick start) runs one `python -m bot` (the image's
    command) on SQLite in the bot-data volume, as before the scale profile existed."""
    bot = compose_services["bot"]
    assert "command" not in bot
    assert bot["volumes"] == ["bot-data:/data"]
    env = environment(bot)
    assert env["DATABASE_PATH"] == "/data/bot.db"
    # No PostgreSQL, no Redis unless the user's .env asks for them.
    assert env.get("DATABASE_URL", "") == "" and env.get("REDIS_URL", "") == ""
    assert env["HEALTH_PORT"] == "8080"
    # The scale profile turns it off with BOT_REPLICAS=0; one replica unless told.
    assert bot["deploy"]["replicas"] == "${BOT_REPLICAS:-1}"
    assert with_defaults(bot["deploy"]["replicas"]) == "1"
    sandbox = compose_services["sandbox"]
    assert sandbox["command"][:3] == ["python", "-m", "sandbox"]
    assert sandbox["ports"] == ["127.0.0.1:8081:8081"]


def test_scale_runs_web_replicas_and_tracker_workers_on_postgres_and_redis(
    compose_services: Services,
) -> None:
    from bot.config import Settings

    bot_env = compose_services["bot"]["environment"]
    for name in (*WEB, *TRACKERS):
        spec = compose_services[name]
        role = "web" if name in WEB else "tracker"
        assert spec["command"] == ["python", "-m", "bot", role], name
        assert spec["image"] == compose_services["bot"]["image"], name
        env = environment(spec)
        url = env["DATABASE_URL"]
        assert re.fullmatch(r"postgresql://bot:[^@]+@postgres:5432/bot", url), name
        assert env["REDIS_URL"] == "redis://redis:6379/0", name
        # Every setting of the bot reaches every process, as it reaches the single one.
        assert {field.upper() for field in Settings.model_fields} <= set(env), name
        # The servers' addresses are the scale profile's own (the single bot passes them on).
        overridden = {"WEBHOOK_URL", "LISTEN_PORT", "HEALTH_PORT", "DATABASE_URL", "REDIS_URL"}
        for setting in set(bot_env) - overridden:
            assert spec["environment"][setting] == bot_env[setting], (name, setting)
        # One secret for all: each process decrypts the keys the others stored.
        assert "bot-data:/data" in spec["volumes"], name
        assert env["SECRET_KEY_FILE"] == "/data/secret.key"
        for server in ("postgres", "redis"):
            assert spec["depends_on"][server] == {"condition": "service_healthy"}, name
        assert spec["restart"] == "unless-stopped"
    # Taps before passes on shared cores: between containers the CPU weight decides (the
    # default 1024 for the web replicas), TRACKER_NICE only inside a container.
    for name in TRACKERS:
        assert compose_services[name]["cpu_shares"] < 1024, name
    for name in WEB:
        assert compose_services[name].get("cpu_shares", 1024) == 1024, name
    for name in WEB:
        env = environment(compose_services[name])
        assert env["WEBHOOK_URL"] == "https://localhost"  # https://$PROXY_HOST
        assert env["LISTEN_HOST"] == "0.0.0.0"
        assert env["LISTEN_PORT"] == "8080"
        assert compose_services[name]["environment"]["WEBHOOK_SECRET"] == "${WEBHOOK_SECRET:-}"
    for name in TRACKERS:
        env = environment(compose_services[name])
        assert env["WEBHOOK_URL"] == ""  # a worker takes no updates
        assert env["HEALTH_PORT"] == "8080"


def test_scale_servers_are_the_official_images_with_health_checks_and_volumes(
    compose_services: Services,
) -> None:
    postgres = compose_services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    env = environment(postgres)
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("bot", "bot")
    # The password the bot's DATABASE_URL carries is the server's own.
    url = compose_services["web-1"]["environment"]["DATABASE_URL"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] in url
    redis = compose_services["redis"]
    assert redis["image"].startswith(("valkey/valkey:", "redis:"))
    assert redis["healthcheck"]["test"][:2] == ["CMD", "valkey-cli"]
    assert redis["volumes"] == ["redis-data:/data"]
    for server in ("postgres", "redis"):
        assert "ports" not in compose_services[server], f"{server} stays inside the network"


def caddy_blocks(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_the_proxy_sends_only_the_webhook_round_robin_to_both_replicas(
    compose_services: Services,
) -> None:
    proxy = compose_services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert ("./deploy/Caddyfile", "/etc/caddy/Caddyfile") in bind_mounts(proxy)
    assert sorted(proxy["depends_on"]) == sorted(WEB)
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    lines = caddy_blocks((REPO / "deploy/Caddyfile").read_text())
    assert lines[0] == "{$PROXY_HOST:localhost} {"
    assert environment(proxy)["PROXY_HOST"] == "localhost"
    # The webhook path, the same default as the replicas'; nothing else goes through.
    assert "handle {$WEBHOOK_PATH:/webhook} {" in lines
    assert (
        environment(proxy)["WEBHOOK_PATH"] == environment(compose_services["web-1"])["WEBHOOK_PATH"]
    )
    upstreams = [line for line in lines if line.startswith("reverse_proxy ")]
    assert len(upstreams) == 1
    port = environment(compose_services["web-1"])["LISTEN_PORT"]
    assert upstreams[0].split()[1:-1] == [f"{name}:{port}" for name in WEB]
    assert "lb_policy round_robin" in lines
    assert "health_uri /healthz" in lines
    assert "respond 404" in lines  # any other path: /healthz and /metrics stay inside
    assert sum(line.endswith("{") for line in lines) == lines.count("}")


def test_compose_refers_only_to_files_that_exist(compose_services: Services) -> None:
    for name, spec in compose_services.items():
        for source, _ in bind_mounts(spec):
            assert (REPO / source).exists(), (name, source)
        if "build" in spec:
            assert (REPO / spec["build"] / "Dockerfile").is_file()


def test_named_volumes_are_declared(compose: dict[str, Any], compose_services: Services) -> None:
    declared = set(compose["volumes"])
    used = set()
    for spec in compose_services.values():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared


def test_dependencies_start_with_the_services_that_need_them(compose_services: Services) -> None:
    """Compose refuses a service whose dependency is in a profile that is not enabled."""
    for name, spec in compose_services.items():
        profiles = set(spec.get("profiles", []))
        for needed in spec.get("depends_on", []):
            theirs = set(compose_services[needed].get("profiles", []))
            assert not theirs or theirs & profiles, (name, needed)


def test_every_variable_of_the_compose_file_is_documented() -> None:
    """Whatever the compose file reads from the shell or .env is in .env.example, with a
    default in the compose file unless the bot itself reads it empty."""
    text = (REPO / "docker-compose.yml").read_text()
    documented = set(
        re.findall(
            r"^#? ?([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), flags=re.MULTILINE
        )
    )
    used = {found.group(1) for found in VARIABLE.finditer(text)}
    assert used <= documented, used - documented
    # Only ${NAME} and ${NAME:-default}: anything else would stop `docker compose config`.
    assert not re.search(r"\$\{[^}]*:\?", text), "a required variable breaks every profile"
    leftover = VARIABLE.sub("", text)
    assert "${" not in leftover and not re.search(r"\$[A-Za-z]", leftover)


def test_monitoring_mounts_its_configuration(compose_services: Services) -> None:
    prometheus = compose_services["prometheus"]
    assert ("./deploy/prometheus.yml", "/etc/prometheus/prometheus.yml") in bind_mounts(prometheus)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    grafana = compose_services["grafana"]
    mounts = dict(bind_mounts(grafana))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == "/etc/grafana/dashboards"
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith("/etc/grafana/dashboards/")
    assert (REPO / "deploy/grafana/dashboards" / home.rsplit("/", 1)[1]).is_file()
    # Both answer on this machine only.
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    assert (
        read_yaml("deploy/grafana/provisioning/dashboards/bot.yml")["providers"][0]["options"][
            "path"
        ]
        == mounts["./deploy/grafana/dashboards"]
    )


def test_the_readme_quick_start_is_the_single_process_one() -> None:
    readme = (REPO / "README.md").read_text()
    assert "Or with Docker: `BOT_TOKEN=123456:your-token docker compose up -d`" in readme
    assert "docs/deployment.md#beyond-one-machine" in readme


def test_the_deployment_guide_covers_every_service_of_the_profiles(
    compose_services: Services,
) -> None:
    guide = (REPO / "docs/deployment.md").read_text()
    section = guide[guide.index("## Beyond one machine") :]
    for name in SCALE | MONITORING:
        assert f"`{name}`" in section, name
    for command in ("python -m bot web", "python -m bot tracker", "python -m bot migrate-db"):
        assert command in section
    for setting in ("COMPOSE_PROFILES=scale", "BOT_REPLICAS=0", "PROXY_HOST", "WEBHOOK_SECRET"):
        assert setting in section
