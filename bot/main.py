"""`python -m bot`: load settings, wire everything, run long polling or a webhook server."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from bot.config import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


class RedactingFilter(logging.Filter):
    """Masks API keys in every log record, whatever logged it (aiohttp, aiogram, ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bot.provider.redact import redact

        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are rendered later from exc_info; render now, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


def freeze_startup_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    A full collection of the warmed heap pauses the loop for 100–300 ms (benchmarks/handlers);
    objects that live for the whole run never need scanning."""
    gc.collect()
    gc.freeze()


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


async def run(settings: Settings) -> None:
    from bot.app import build_bot, build_dispatcher, build_services, run_polling

    sandbox_server = None
    if settings.sandbox and not settings.sandbox_url:
        # Try-without-money mode: the sandbox runs inside this process.
        from sandbox.server import SandboxServer
        from sandbox.state import SandboxState

        state = SandboxState()
        sandbox_server = SandboxServer(state, host="127.0.0.1", port=settings.sandbox_port)
        await sandbox_server.start()
        demo_key = state.create_key(balance="100")
        settings = settings.model_copy(update={"sandbox_url": sandbox_server.url})
        log.info("sandbox provider on %s, demo API key: %s", sandbox_server.base, demo_key)

    services = await build_services(settings)
    health = None
    bot = build_bot(settings)
    dp = build_dispatcher(services, bot)
    try:
        from handlers import set_commands

        await set_commands(bot, services.translator)
        freeze_startup_heap()
        if settings.webhook_mode:
            from bot.web import run_webhook

            await run_webhook(bot, dp, services)
        else:
            if settings.health_port is not None:
                from bot.web import start_health_server

                health = await start_health_server(
                    services, settings.listen_host, settings.health_port
                )
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("long polling started")
            await run_polling(bot, dp)
    finally:
        if health is not None:
            await health.cleanup()
        await bot.session.close()
        await services.close()
        if sandbox_server is not None:
            await sandbox_server.stop()


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level)

    async def runner() -> None:
        task = asyncio.create_task(run(settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("stopped")

    from storage import SecretKeyError, SecretMismatch

    try:
        asyncio.run(runner())
    except (SecretKeyError, SecretMismatch) as exc:
        # Both messages name the setting or file and never contain the secret itself.
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
