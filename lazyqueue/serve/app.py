"""The ASGI app of `lazyqueue serve`: routes, token check, JSON errors, the SSE stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from ..core.errors import LazyQueueError, NotFound
from .fields import BadRequest
from .routes import MAX_BODY, JSONResponse, Routes, error
from .stream import GAP_EVENT, EventLog
from .token import authorized

PING_S = 15.0
log = logging.getLogger("lazyqueue.serve")


class TokenCheck:
    """ASGI middleware: every HTTP request carries `Authorization: Bearer TOKEN`, else 401."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            if not authorized(header, self.token):
                message = "wrong token" if header else "no token: send Authorization: Bearer TOKEN (lazyqueue serve --show-token)"
                response = JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(queue, token: str, *, cors_origins=(), max_body: int = MAX_BODY, after_enqueue=None,
              events: EventLog | None = None) -> Starlette:
    """The app over `queue` (either engine). `after_enqueue` is called once work was queued.

    The stream carries other processes' changes too: the engine's subscription delivers them.
    """
    routes = Routes(queue, after_enqueue, max_body)
    feed = events or EventLog()

    async def stream(request: Request):
        from sse_starlette.sse import EventSourceResponse, ServerSentEvent

        text = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or ""
        try:
            last = int(text) if text else feed.last_id
        except ValueError:
            raise BadRequest(f"Last-Event-ID must be a number (got {text!r})") from None

        async def events():
            nonlocal last
            items, lost = feed.after(last)
            if lost:
                yield ServerSentEvent(data='{"lost": true}', event=GAP_EVENT)
            while True:
                for item_id, kind, data in items:
                    yield ServerSentEvent(data=data, event=kind, id=str(item_id))
                    last = item_id
                await feed.wait_after(last, PING_S)
                items, lost = feed.after(last)
                if lost:
                    yield ServerSentEvent(data='{"lost": true}', event=GAP_EVENT)

        return EventSourceResponse(events(), ping=PING_S, send_timeout=30)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        feed.attach(asyncio.get_running_loop())
        unsubscribe = await asyncio.to_thread(queue.subscribe, feed.add)  # the first one may read the queue

        async def flush():
            while True:
                await asyncio.sleep(feed.progress_gap)
                feed.flush_held()

        flusher = asyncio.create_task(flush())
        try:
            yield
        finally:
            flusher.cancel()
            unsubscribe()

    async def on_error(request, exc):
        if isinstance(exc, BadRequest):
            return error(exc.status, str(exc))
        if isinstance(exc, NotFound):
            return error(404, str(exc))
        if isinstance(exc, LazyQueueError):
            return error(400, str(exc))
        if isinstance(exc, HTTPException):
            return error(exc.status_code, {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code, exc.detail))
        log.exception("request failed: %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__} (see the serve log)")

    app = Starlette(
        routes=[
            Route("/tasks", routes.create, methods=["POST"]),
            Route("/tasks", routes.list, methods=["GET"]),
            Route("/tasks/{id}", routes.get, methods=["GET"]),
            Route("/tasks/{id}/cancel", routes.cancel, methods=["POST"]),
            Route("/tasks/{id}/retry", routes.retry, methods=["POST"]),
            Route("/tasks/{id}/log", routes.log, methods=["GET"]),
            Route("/tasks/{id}/status", routes.status, methods=["GET"]),
            Route("/events", stream, methods=["GET"]),
            Route("/kinds", routes.kinds, methods=["GET"]),
            Route("/health", routes.health, methods=["GET"]),
        ],
        exception_handlers={Exception: on_error, HTTPException: on_error, BadRequest: on_error,
                            LazyQueueError: on_error},
        lifespan=lifespan,
    )
    app.add_middleware(TokenCheck, token=token)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                           expose_headers=["X-Next-Offset", "X-Next-After-Id"])
    app.state.events = feed
    return app
