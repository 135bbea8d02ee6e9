"""The endpoints of `lazyqueue serve`. Queue calls run in worker threads: they take the file lock."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSON, Response

from ..core.encoded import TEXT_ERRORS
from ..core.errors import LazyQueueError, NotFound, UsageError
from ..core.models import STATUSES, parse_id, task_ref
from ..run import read_log
from .fields import BadRequest, create_spec, remote_status

MAX_BODY = 1 << 20  # 1 MB
LOG_CHUNK = 1 << 20
PAGE_MAX = 1000


class JSONResponse(_StarletteJSON):
    """Starlette's JSON response, with text that is not Unicode (a lone surrogate) written as its JSON escape."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8", TEXT_ERRORS)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _task_id(request: Request) -> int:
    text = request.path_params["id"]
    try:
        return parse_id(text)
    except ValueError:
        raise BadRequest(f"not a task id: {text!r} (use 12 or t12)") from None


async def read_json(request: Request, limit: int = MAX_BODY):
    """The request's JSON body; 413 past `limit` bytes, 400 if it does not parse."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BadRequest(f"body too large: {int(length)} bytes (at most {limit})", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"body too large (at most {limit} bytes)", status=413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest("the body is empty: send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def _record(task, deduplicated: bool | None = None) -> dict:
    data = task.to_dict()
    if deduplicated is not None:
        data["deduplicated"] = deduplicated
    return data


class Routes:
    """The handlers, bound to one queue (any engine)."""

    def __init__(self, queue, after_enqueue=None, max_body: int = MAX_BODY):
        self.queue = queue
        self.max_body = max_body
        self.after_enqueue = after_enqueue or (lambda: None)  # make sure something runs the work

    async def create(self, request: Request) -> Response:
        from ..core.queue import TaskSpec

        kind, payload, options = create_spec(await read_json(request, self.max_body))

        def enqueue():
            try:
                self.queue.registry.get(kind)
            except UsageError as exc:
                raise BadRequest(f"kind: {exc}") from None
            try:
                result = self.queue.enqueue_many([TaskSpec(kind, payload, **options)])[0]
            except NotFound as exc:
                raise BadRequest(str(exc)) from None
            if not result.deduplicated:
                self.after_enqueue()
            return result

        result = await run_in_threadpool(enqueue)
        return JSONResponse(_record(result.task, result.deduplicated), status_code=200 if result.deduplicated else 201)

    async def get(self, request: Request) -> Response:
        tid = _task_id(request)
        task = await run_in_threadpool(self.queue.get, tid)
        return JSONResponse(_record(task))

    async def list(self, request: Request) -> Response:
        q = request.query_params
        status = q.get("status") or None
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)} (got {status!r})")
        job = None
        if q.get("job"):
            try:
                job = parse_id(q["job"], prefix="#")
            except ValueError:
                raise BadRequest(f"job takes a job id like 14 (got {q['job']!r})") from None
        limit = _int_param(q, "limit", PAGE_MAX, 1, PAGE_MAX)
        after_id = _int_param(q, "after_id", 0, 0, None)
        tasks = await run_in_threadpool(self.queue.tasks, status, q.get("kind") or None, job)
        page = [t.to_dict() for t in tasks if t.id > after_id][:limit]
        headers = {"X-Next-After-Id": str(page[-1]["id"])} if len(page) == limit else {}
        return JSONResponse(page, headers=headers)

    async def cancel(self, request: Request) -> Response:
        from ..core import queue as q

        tid = _task_id(request)

        def cancel():
            answer = self.queue.cancel(tid)
            task = self.queue.get(tid)
            if answer == q.CANCEL_TOO_LATE:
                raise BadRequest(f"{task_ref(tid)} already completed; nothing to cancel", status=409)
            if answer == q.CANCEL_NOTHING:
                raise BadRequest(f"{task_ref(tid)} is already {task.status}; nothing to cancel", status=409)
            return task

        return JSONResponse(_record(await run_in_threadpool(cancel)))

    async def retry(self, request: Request) -> Response:
        tid = _task_id(request)

        def retry():
            self.queue.get(tid)  # 404 before 409
            try:
                result = self.queue.retry([tid])[0]
            except NotFound as exc:
                raise BadRequest(str(exc), status=409) from None
            except LazyQueueError as exc:
                raise BadRequest(str(exc), status=409) from None
            if not result.deduplicated:
                self.after_enqueue()
            return result

        result = await run_in_threadpool(retry)
        return JSONResponse(_record(result.task, result.deduplicated))

    async def log(self, request: Request) -> Response:
        tid = _task_id(request)
        offset = _int_param(request.query_params, "offset", 0, 0, None)
        limit = _int_param(request.query_params, "limit", LOG_CHUNK, 1, LOG_CHUNK)

        def read():
            self.queue.get(tid)
            return read_log(self.queue, tid, offset, limit)

        data, next_offset = await run_in_threadpool(read)
        return Response(data, media_type="text/plain; charset=utf-8", headers={"X-Next-Offset": str(next_offset)})

    async def status(self, request: Request) -> Response:
        tid = _task_id(request)

        def look():
            task = self.queue.get(tid)
            return remote_status(task, self.queue.position(tid) if task.status == "queued" else None)

        return JSONResponse(await run_in_threadpool(look))

    async def kinds(self, request: Request) -> Response:
        out = []
        for kind in self.queue.registry:
            out.append({
                "name": kind.name, "description": kind.description, "concurrency": kind.concurrency,
                "max_attempts": kind.max_attempts, "timeout_s": kind.timeout, "then": list(kind.then),
                "fields": [f.name for f in kind.fields], "source": kind.source,
            })
        return JSONResponse(out)

    async def health(self, request: Request) -> Response:
        from .. import __version__

        def look():
            workers = getattr(self.queue, "workers", None)
            try:
                alive = [w.to_dict() if hasattr(w, "to_dict") else vars(w) for w in workers()] if workers else None
            except Exception:  # a health probe answers even when the worker list cannot be read
                alive = None
            return {"ok": True, "version": __version__, "home": str(self.queue.home), "workers": alive}

        return JSONResponse(await run_in_threadpool(look))


def _int_param(q, name: str, default: int, low: int, high: int | None) -> int:
    text = q.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number (got {text!r})") from None
    if value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f"≥ {low}"
        raise BadRequest(f"{name} must be {span} (got {value})")
    return value
