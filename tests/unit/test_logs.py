"""mask_url and the log filter: credentials in URLs never reach a log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from cachefront.logs import LOG_FORMAT, MaskUrlsFilter, mask_url


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
