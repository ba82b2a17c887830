"""Reading one uploaded file from a multipart request, bounded before and while it is parsed.

Shared by the JSON API and the web pages (neither imports the other). The whole body may be at
most KAOHE_EVIDENCE_MAX_BYTES + MULTIPART_OVERHEAD (`body_limit()`): refused on its Content-Length
before a byte is read, and counted as it streams in otherwise (chunked uploads), so an oversized
upload is never held or spooled whole. The file itself may be at most KAOHE_EVIDENCE_MAX_BYTES.
"""

from __future__ import annotations

from typing import AsyncIterator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.service.evidence import MULTIPART_OVERHEAD, max_bytes, too_large
from domain.errors import InvalidInput

FIELD_LIMIT = 64 * 1024  # the other fields of an upload form (_key, _csrf): small
# The routes that take an upload, for the general body-size guard (api.request_limits): they may
# carry body_limit() bytes; every other body keeps the 1 MiB JSON limit.
UPLOAD_PATHS = (
    r"/api/years/\d+/districts/[^/]+/evidence$",  # the JSON API's upload
    r"/web/\d+/districts/[^/]+/submissions/[^/]+/evidence$",  # the 申报 page's upload form
    r"/web/rubrics$",  # the years page's rubric upload
)


def body_limit() -> int:
    """The most an upload request's body may carry (what a general body-size limit must let through)."""
    return max_bytes() + MULTIPART_OVERHEAD


async def read_upload(request: Request, field: str = "file") -> tuple[bytes, str | None, dict[str, str]]:
    """(the file's bytes, its name as sent, the form's text fields) of a multipart upload."""
    limit, allowed = max_bytes(), body_limit()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > allowed:
        raise too_large(limit)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput(f"请以 multipart/form-data 上传文件，字段名 {field} (send the file as multipart field "
                           f"{field!r})", field=field)

    async def bounded() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > allowed:
                raise too_large(limit)
            yield chunk

    parser = MultiPartParser(request.headers, bounded(), max_files=1, max_fields=20, max_part_size=FIELD_LIMIT)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise InvalidInput(f"上传内容无法解析 (malformed multipart body: {e.message})", field=field) from None
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise InvalidInput(f"缺少上传文件 (multipart field {field!r} with a file is required)", field=field)
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise too_large(limit)
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return data, upload.filename, fields
    finally:
        await form.close()
