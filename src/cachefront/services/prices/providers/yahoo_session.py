"""Yahoo's cookie and crumb: fetched once, shared by concurrent callers, renewed on demand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cachefront.errors import UpstreamFormatError, UpstreamStatusError
from cachefront.services.prices.providers.base import HttpRequester
from cachefront.services.prices.providers.yahoo_format import CRUMB_PATH, YAHOO
from cachefront.upstream import Priority

__all__ = ["BROWSER_USER_AGENT", "YahooCredentials", "YahooSession", "yahoo_headers"]

# Yahoo refuses clients that do not look like a browser.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@dataclass(frozen=True, slots=True)
class YahooCredentials:
    """A session cookie and the crumb issued for it; ``generation`` counts renewals.

    ``cookie`` is empty when the requester's own cookie jar carries the session.
    """

    cookie: str
    crumb: str
    generation: int


def yahoo_headers(cookie: str = "") -> dict[str, str]:
    """A browser's User-Agent, and the session cookie when one is sent explicitly."""
    headers = {"User-Agent": BROWSER_USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    return headers


def _cookie_header(set_cookies: list[str]) -> str:
    """The ``Cookie`` header sending back every ``name=value`` of the Set-Cookie lines."""
    pairs = [line.split(";", 1)[0].strip() for line in set_cookies]
    return "; ".join(pair for pair in pairs if "=" in pair)


class YahooSession:
    """Holds the current credentials; one fetch however many callers need them at once.

    ``fetches`` counts the cookie-and-crumb fetches made, for tests and metrics.
    """

    def __init__(self, requester: HttpRequester, base_url: str, cookie_url: str) -> None:
        self._requester = requester
        self._base = base_url.rstrip("/")
        self._cookie_url = cookie_url
        self._current: YahooCredentials | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def credentials(self, *, priority: Priority = "user") -> YahooCredentials:
        """The cached credentials, fetching them first when there are none yet."""
        current = self._current
        if current is not None:
            return current
        return await self._renew(None, priority)

    async def renew(
        self, stale: YahooCredentials, *, priority: Priority = "user"
    ) -> YahooCredentials:
        """New credentials after ``stale`` was refused; concurrent refusals renew once."""
        return await self._renew(stale.generation, priority)

    async def _renew(self, stale: int | None, priority: Priority) -> YahooCredentials:
        async with self._lock:
            current = self._current
            # Someone renewed while this caller waited for the lock: use theirs.
            if current is not None and current.generation != stale:
                return current
            cookie = await self._cookie(priority)
            crumb = await self._crumb(cookie, priority)
            self._generation += 1
            self.fetches += 1
            self._current = YahooCredentials(cookie, crumb, self._generation)
            return self._current

    async def _cookie(self, priority: Priority) -> str:
        """The ``Cookie`` header to send; empty when the requester's own jar holds it.

        fc.yahoo.com sets the cookie on a 404 page. A requester that returns error
        answers gives us its Set-Cookie; the platform client raises on the 404 instead,
        but its cookie jar has taken the cookie, and sends it on by itself.
        """
        try:
            response = await self._requester.request(
                "GET",
                self._cookie_url,
                headers={"User-Agent": BROWSER_USER_AGENT},
                priority=priority,
            )
        except UpstreamStatusError as exc:
            if exc.status_code == 404:
                return ""
            raise
        cookie = _cookie_header(response.headers.get_list("set-cookie"))
        if not cookie:
            raise UpstreamFormatError(YAHOO, f"{self._cookie_url} set no cookie")
        return cookie

    async def _crumb(self, cookie: str, priority: Priority) -> str:
        response = await self._requester.request(
            "GET",
            self._base + CRUMB_PATH,
            headers=yahoo_headers(cookie),
            priority=priority,
        )
        if response.status_code != 200:
            raise UpstreamStatusError(YAHOO, response.status_code, "no crumb for the cookie")
        crumb = response.text.strip()
        # An HTML page or a JSON error instead of the short token means no crumb.
        if not crumb or len(crumb) > 64 or any(char in crumb for char in "<{ \n"):
            raise UpstreamFormatError(YAHOO, f"getcrumb answered {crumb[:40]!r}, not a crumb")
        return crumb
