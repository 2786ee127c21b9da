"""A streamed response sent without a task group: a quarter of a millisecond less per stream.

Starlette's ``StreamingResponse`` (under uvicorn, which speaks ASGI 2.3) opens an anyio
task group per response, one task sending the stream and one listening for the client
to leave: about 250 us of CPU per response here, against about 20 us for sending the same
chunks from the request's own task. ``LeanStreamingResponse`` sends from the request's
task and listens with one plain asyncio task; when the client leaves, the request's
task is cancelled out of its wait for the next chunk, the iterator is closed, and the
response ends quietly, as Starlette's does. What feeds the stream never learns of it
unless it is the iterator itself (a shared flight, say, goes on for its other readers).
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

__all__ = ["LeanStreamingResponse"]


class LeanStreamingResponse(StreamingResponse):
    """``StreamingResponse`` with the same headers and chunks, sent from the request's task."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        left = False

        def client_left(listener: asyncio.Future[Message]) -> None:
            nonlocal left
            if listener.cancelled() or listener.exception() is not None:
                return
            if listener.result()["type"] == "http.disconnect":
                left = True
                task.cancel()

        listener = asyncio.ensure_future(_until_disconnect(receive))
        listener.add_done_callback(client_left)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in self.body_iterator:
                if not isinstance(chunk, bytes | memoryview):
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left:
                raise
            # Our own cancellation, for a client that left: not the caller's to see.
            task.uncancel()
        finally:
            listener.remove_done_callback(client_left)
            listener.cancel()
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                await closer()
        if self.background is not None and not left:
            await self.background()


async def _until_disconnect(receive: Receive) -> Message:
    """The first ``http.disconnect``; request body messages still unread are dropped."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return message
