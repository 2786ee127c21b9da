"""mask_url, the log filter and the two formats: credentials in URLs never reach a log line."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import httpx
import pytest

from cachefront.logs import LOG_FORMAT, MaskUrlsFilter, log_config, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:hunter2@api.example/v1?x=1", "https://user:***@api.example/v1?x=1"),
        ("https://ghp_TOKEN@api.example/", "https://***@api.example/"),
        (
            "https://api.example/q?key=K1&api_key=K2&apikey=K3&token=T&access_token=A"
            "&secret=S&password=P&sig=G&format=json",
            "https://api.example/q?key=***&api_key=***&apikey=***&token=***"
            "&access_token=***&secret=***&password=***&sig=***&format=json",
        ),
        (
            "https://api.example/q?API_KEY=K&client_secret=C",
            "https://api.example/q?API_KEY=***&client_secret=***",
        ),
        ("https://ssd.jpl.nasa.gov/api/horizons.api", "https://ssd.jpl.nasa.gov/api/horizons.api"),
        (
            "https://api.example/q?COMMAND=%27499%27&flag",
            "https://api.example/q?COMMAND=%27499%27&flag",
        ),
    ],
)
def test_mask_url_hides_credentials_and_keeps_the_rest(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_the_filter_masks_urls_in_messages_and_arguments() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s"',
        (
            "GET",
            httpx.URL("https://u:pw@h.example/a?token=SECRET1"),
            "fetching https://h/?sig=SECRET2",
        ),
        None,
    )
    assert MaskUrlsFilter().filter(record)
    line = logging.Formatter(LOG_FORMAT).format(record)
    assert "SECRET" not in line
    assert "pw" not in line
    assert "https://u:***@h.example/a?token=***" in line


def test_json_mode_writes_one_object_per_record_with_extras_and_masked_urls() -> None:
    config = log_config("info", "json")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    configurator = logging.config.DictConfigurator(config)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["default"]))
    handler.addFilter(MaskUrlsFilter())
    logger = logging.getLogger("cachefront.test_json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info(
            "calling %s",
            "https://h.example/q?api_key=SECRET",
            extra={"action": "t.call", "color_message": "\x1b[36mcalling\x1b[0m"},
        )
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("failed", extra={"action": "t.failed"})
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "calling https://h.example/q?api_key=***"
    assert (first["level"], first["logger"], first["action"]) == (
        "INFO",
        "cachefront.test_json",
        "t.call",
    )
    assert first["time"].endswith("+00:00")
    assert "color_message" not in first
    assert second["level"] == "ERROR"
    assert "ValueError: broken" in second["exc_info"]
    assert "SECRET" not in out.getvalue()


def test_text_mode_is_unchanged() -> None:
    assert log_config("info")["formatters"]["default"] == {"format": LOG_FORMAT}
    assert log_config("info", "text") == log_config("info")
