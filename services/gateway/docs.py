"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with every
script and style served by the gateway itself, so that they work without the internet.

The two bundles come from the fastapi-offline package (its `static` folder, kept in step
with Swagger UI's and ReDoc's releases), mounted at `/docs/assets`. FastAPI's own
Swagger UI page starts the bundle with an inline script, which the gateway's
Content-Security-Policy does not run: this page carries its settings as data, and
`/dashboard/static/swagger-ui-init.js` starts it.
"""

from __future__ import annotations

import json
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI = "/docs"
REDOC = "/redoc"
ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
START_SWAGGER_UI = "/dashboard/static/swagger-ui-init.js"
FAVICON = "/favicon.ico"

SWAGGER_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{favicon}" type="image/svg+xml">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-config="{config}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{start}"></script>
</body>
</html>
"""


def swagger_ui_settings(app: FastAPI, openapi_url: str) -> dict[str, Any]:
    """What SwaggerUIBundle is started with: FastAPI's defaults and the app's own."""
    return {
        **swagger_ui_default_parameters,
        **(app.swagger_ui_parameters or {}),
        "url": openapi_url,
        # Its default asks validator.swagger.io about the document, from the browser.
        "validatorUrl": None,
    }


def install(app: FastAPI) -> None:
    """Add `/docs`, `/redoc` and their assets to `app`, which has FastAPI's own off."""
    assert app.docs_url is None and app.redoc_url is None and app.openapi_url
    openapi_path = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(SWAGGER_UI, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        settings = swagger_ui_settings(app, f"{root}{openapi_path}")
        return HTMLResponse(
            SWAGGER_UI_PAGE.format(
                title=escape(f"{app.title} - Swagger UI"),
                favicon=f"{root}{FAVICON}",
                assets=f"{root}{ASSETS_URL}",
                config=escape(json.dumps(settings)),
                start=f"{root}{START_SWAGGER_UI}",
            )
        )

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_path}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{FAVICON}",
            with_google_fonts=False,
        )
