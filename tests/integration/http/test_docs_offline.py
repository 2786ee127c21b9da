"""The interactive API docs work without the internet: every asset comes from the server."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from cachefront.config import Settings
from harness_servers import ServerThread

# src="..." and href="..." attributes, and url: '...' in the inline script.
_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_server_itself(
    settings_for: Callable[..., Settings],
    serve_app: Callable[[Settings], ServerThread],
    page: str,
) -> None:
    with serve_app(settings_for()) as server, httpx.Client(base_url=server.url) as client:
        # Anonymous, as a developer opening the docs in a browser.
        html = client.get(page)
        assert html.status_code == 200
        references = [a or b for a, b in _REFERENCES.findall(html.text)]
        assert len(references) >= 2, references  # the script and the spec, at least
        for reference in references:
            absolute = urljoin(server.url + page, reference)
            assert urlsplit(absolute).netloc == urlsplit(server.url).netloc, reference
            assert client.get(absolute).status_code == 200, reference
