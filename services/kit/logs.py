"""Structured logs: key=value on a console, one JSON object a line with LOG_FORMAT=json."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure_logging(service: str, log_format: str = "console", level: str = "INFO") -> None:
    """Route stdlib and structlog records through one renderer, tagged with the service."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    structlog.configure(
        # A call below the level is dropped first, before the processors stamp and
        # tag it only for the stdlib to drop it after them.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # FastStream and uvicorn come with handlers of their own: route them through
    # ours, so that every line has the same format (one JSON object with json).
    for library in ("faststream", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(library)
        logger.handlers.clear()
        logger.propagate = True
    # Libraries' per-message chatter stays out of the way of our own lines.
    for noisy in ("aiormq", "aio_pika", "asyncio", "faststream.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def debug_enabled(name: str) -> bool:
    """Whether `name` logs at DEBUG, so that per-message lines are not even built below
    it. Asked of the stdlib's logger, whose level holds whether or not structlog was
    configured (structlog's default wrapper has no `isEnabledFor`)."""
    return logging.getLogger(name).isEnabledFor(logging.DEBUG)
