"""/docs and /redoc from assets the service serves itself: they render with no network.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, which the air-gapped machines
people self-host on cannot reach: a blank page. The assets come pinned from the
``fastapi-offline`` package (MIT; the Swagger files Apache-2.0, ReDoc MIT), which holds exactly
these files; only the files are used, the pages are FastAPI's own helpers. Cached by browsers
for a day: a new release changes the package version, and with it nothing else than the files.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


class CachedStaticFiles(StaticFiles):
    """Starlette's static files with a Cache-Control header on what they find (the docs'
    assets, the page's)."""

    def __init__(self, *, directory: Path, cache_control: str) -> None:
        super().__init__(directory=directory)
        self.cache_control = cache_control

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = self.cache_control
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_offline_docs(app: FastAPI) -> None:
    """Serve /docs, /docs/oauth2-redirect and /redoc with local assets. Create the app with
    ``docs_url=None, redoc_url=None`` first."""
    app.mount(ASSETS_PATH, CachedStaticFiles(directory=ASSETS_DIR,
                                             cache_control="public, max-age=86400"),
              name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{title} - API",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png")

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json",
                              title=f"{title} - ReDoc",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
                              with_google_fonts=False)
