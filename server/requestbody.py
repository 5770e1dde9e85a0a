"""Reading a raw request body from an endpoint's worker thread, with a size cap.

Endpoints run in a thread pool (server/api/endpoint.py), but Starlette's body stream is async: each
chunk is awaited on the event loop. Uploads that must not be held in memory whole (course videos) and
raw-body endpoints (a certificate PDF to check) read it here, refusing the body as soon as it passes
``limit`` — the declared Content-Length first, then the bytes actually sent.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from starlette.requests import Request


def body_chunks(request: Request, limit: int, too_large: Callable[[int], Exception]) -> Iterator[bytes]:
    """Yield the body's chunks; raise ``too_large(limit)`` once more than ``limit`` bytes are declared or sent."""
    import anyio.from_thread
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    size = 0
    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        yield chunk
