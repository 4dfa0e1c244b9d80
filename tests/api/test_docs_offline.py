"""/docs and /redoc render offline: every script, style and icon they load is served here."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from app.settings import Settings
from tests.api.conftest import running_app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_of_the_docs_pages_is_served_locally(client: httpx.AsyncClient,
                                                               page: str) -> None:
    resp = await client.get(page)
    assert resp.status_code == 200
    html = resp.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", html)  # Swagger's openapi and oauth
    assert urls, html
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    assets = [u for u in urls if u.startswith("/docs-assets/")]
    assert any(u.endswith(".js") for u in assets), urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    if page == "/docs":
        assert "/openapi.json" in html


async def test_assets_are_cached_and_need_no_key(
        make_settings: Callable[..., Settings]) -> None:
    async with running_app(make_settings(api_keys=["secret"])) as (_, client):
        resp = await client.get("/docs-assets/swagger-ui-bundle.js")
        assert resp.status_code == 200
        assert "max-age" in resp.headers["cache-control"]
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/v1/models")).status_code == 401  # the API itself still asks
