"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served entirely from this server.

The viewers' JavaScript and CSS come with the `fastapi-offline` package (installed with the
project, no CDN); the page that starts Swagger UI loads its settings from a static file, so it
runs under a Content-Security-Policy without inline script.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS = "/docs-assets"
BUNDLED = Path(fastapi_offline.__file__).parent / "static"  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
OWN = Path(__file__).parent / "docs_static"  # swagger-init.js
FILES = {
    "swagger-ui-bundle.js": BUNDLED / "swagger-ui-bundle.js",
    "swagger-ui.css": BUNDLED / "swagger-ui.css",
    "redoc.standalone.js": BUNDLED / "redoc.standalone.js",
    "favicon.png": BUNDLED / "favicon.png",
    "swagger-init.js": OWN / "swagger-init.js",
}

SWAGGER_PAGE = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>kaohe 实绩考核 · API 文档（Swagger UI）</title>
<link rel="icon" href="{ASSETS}/favicon.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<p>另见 <a href="/redoc">ReDoc 版</a>；接口需要 Authorization: Bearer 访问令牌（点 Authorize 填写）。</p>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>kaohe 实绩考核 · API 文档（ReDoc）</title>
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(SWAGGER_PAGE)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return HTMLResponse(REDOC_PAGE)


@router.get(ASSETS + "/{name}")
def asset(name: str) -> Response:
    path = FILES.get(name)
    if path is None or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "max-age=86400"})
