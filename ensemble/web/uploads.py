"""Uploads: a size limit on every request body, and files saved under names the server chooses.

No name a client sends is ever used as a path: an upload is written to ``<folder>/<role><suffix>``
(role: "wav", "eda", ...; the suffix only if it is a short plain extension), and error messages
show the client's name instead of the temporary path.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")
CHUNK = 1 << 20


class RequestTooLarge(ValueError):
    pass


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before the app sees it.

    The body is read (up to the limit) before the app is called, so the answer never depends on
    how far the app got; a body under the limit is handed on unchanged.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, int(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                return await self._refuse(send)
            parts.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(parts), "more_body": False}

        return await self.app(scope, replay, send)

    async def _refuse(self, send):
        megabytes = self.limit / (1 << 20)
        body = json.dumps({"error": f"the upload is larger than the server's limit of {megabytes:g} MB "
                                    "(serve.py --max-upload-mb)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def shown_name(filename: str | None, role: str) -> str:
    """The client's file name as it may appear in a message: its last part, printable, at most 80 characters."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:80]
    return name or f"the {role} upload"


def save_upload(upload, folder: Path, role: str) -> Path:
    """Copy an UploadFile to ``folder/<role><suffix>``; the path written."""
    suffix = SUFFIX.search(upload.filename or "")
    target = Path(folder) / f"{role}{suffix.group(0).lower() if suffix else ''}"
    upload.file.seek(0)
    with open(target, "wb") as handle:
        while chunk := upload.file.read(CHUNK):
            handle.write(chunk)
    return target


def is_given(upload) -> bool:
    """A browser sends an empty file field as a part with no name and no bytes: that is no upload."""
    if upload is None:
        return False
    if upload.filename:
        return True
    upload.file.seek(0, 2)
    given = upload.file.tell() > 0
    upload.file.seek(0)
    return given
