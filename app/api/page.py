"""GET /: the page people look at, served by the service itself from ``app/web``.

The page is plain HTML, CSS and ES modules with no build step; it talks to the public API only.
Its assets are served under a path that names their content (``/static/<digest>/...``), so a
browser may keep them for a year and a new release is fetched at once; the page itself is
revalidated on every load. A Content-Security-Policy allows scripts from this origin only: no
inline script, no eval, nothing fetched from elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from app.api.docs_pages import CachedStaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static/"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    # Thumbnails arrive as base64 JPEG; the player and the thumbnails drawn from it are the
    # user's own file (blob:).
    "img-src 'self' data: blob:",
    "media-src blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def assets_digest(directory: Path = STATIC_DIR) -> str:
    """12 hex digits naming every asset's name and bytes: the URL changes when any file does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def mount_page(app: FastAPI) -> None:
    """Serve the page at / and its assets under /static/<digest>/."""
    digest = assets_digest()
    assets_url = f"{STATIC_PREFIX}{digest}/"
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8").replace(
        "{{ASSETS}}", assets_url)
    app.mount(assets_url.rstrip("/"), CachedStaticFiles(
        directory=STATIC_DIR, cache_control="public, max-age=31536000, immutable"),
        name="page-assets")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers=PAGE_HEADERS)
