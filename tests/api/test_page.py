"""GET /: the page and its assets over HTTP (the browser tests are in tests/web)."""

from __future__ import annotations

import re
from pathlib import Path

from app.api.page import STATIC_DIR, assets_digest
from tests.api.conftest import running_app, tiny_settings


async def test_the_page_allows_scripts_from_this_origin_only(tiny_store: Path,
                                                            upload_dir: Path) -> None:
    async with running_app(tiny_settings(tiny_store, upload_dir), wait_ready=False) as (_, http):
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = dict(part.strip().split(" ", 1) for part in
                      page.headers["content-security-policy"].split(";"))
        assert policy["script-src"] == "'self'"
        assert policy["default-src"] == "'none'"
        assert page.headers["cache-control"] == "no-cache"
        # No inline script: every <script> names a file, and no element carries a handler.
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.S)
        assert scripts and all(body.strip() == "" for body in scripts)
        assert not re.search(r"\son[a-z]+=", page.text)
        assert (await http.head("/")).status_code == 200


async def test_assets_are_named_by_their_content_and_cached_for_a_year(
        tiny_store: Path, upload_dir: Path) -> None:
    settings = tiny_settings(tiny_store, upload_dir, api_keys=["secret"])
    async with running_app(settings, wait_ready=False) as (_, http):
        page = await http.get("/")  # no key: the page asks for one when the API says 401
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        assert {u.rsplit("/", 1)[1] for u in urls} == {"main.js", "page.css"}
        assert all(u.startswith(f"/static/{assets_digest()}/") for u in urls)
        for url in urls:
            asset = await http.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        # Every module main.js imports is served from the same folder.
        for module in sorted(STATIC_DIR.glob("*.js")):
            asset = await http.get(f"/static/{assets_digest()}/{module.name}")
            assert asset.status_code == 200
            assert "javascript" in asset.headers["content-type"]
        # An old release's path is gone rather than served stale.
        assert (await http.get("/static/000000000000/main.js")).status_code == 404
        assert (await http.get("/v1/models")).status_code == 401


def test_the_digest_changes_with_any_asset(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("1")
    before = assets_digest(tmp_path)
    (tmp_path / "a.js").write_text("2")
    assert assets_digest(tmp_path) != before


async def test_a_missing_upload_folder_is_made_at_start(tiny_store: Path, tmp_path: Path,
                                                        videos: dict[str, Path]) -> None:
    # It once answered every upload with a 500 (FileNotFoundError in mkstemp).
    settings = tiny_settings(tiny_store, tmp_path / "not-yet" / "uploads")
    async with running_app(settings) as (_, http):
        resp = await http.post("/v1/summarize",
                               files={"video": ("c.mp4", videos["short"].read_bytes())})
        assert resp.status_code == 200, resp.text
