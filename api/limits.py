"""Refuses request bodies larger than the configured limit with 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body must be at most {limit} bytes")


class BodyLimitMiddleware:
    """Checks the declared Content-Length first, then the bytes that arrive.

    A client may send no length (chunked) or a false one, so the streamed size
    is counted as well; the handler reading past the limit gets a 413.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is None:
            response = error_response(
                400, "Content-Length must be a whole number", "Content-Length"
            )
            await response(scope, receive, send)
            return
        if declared > self.max_body_bytes:
            error = too_large(self.max_body_bytes)
            await error_response(413, error.message)(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise too_large(self.max_body_bytes)
            return message

        return receive_counted


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; 0 when absent, None when unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return 0
