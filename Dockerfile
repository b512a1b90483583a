# The bot: python -m bot, non-root, its SQLite database and secret file on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what `pip install .` needs; tests and benchmarks stay out of the image.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY sandbox ./sandbox
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data

# The database and the generated secret file (/data/secret.key, mode 0600) live here.
VOLUME ["/data"]
ENV DATABASE_PATH=/data/bot.db \
    LISTEN_HOST=0.0.0.0 \
    LISTEN_PORT=8080 \
    HEALTH_PORT=8080

USER bot
# Webhook mode serves /healthz on LISTEN_PORT; polling mode on HEALTH_PORT (the same 8080 here).
# With HEALTH_PORT emptied, the check falls back to opening the database (docs/deployment.md).
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bot.web", "--check"]

# exec form: the bot is PID 1 and gets SIGTERM from `docker stop` directly.
CMD ["python", "-m", "bot"]
