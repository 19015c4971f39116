"""Health over the real runtime: anonymous callers learn ok / not ok, signed-in users the detail."""

from __future__ import annotations

import httpx

from tests.support.api_app import ApiApp


async def test_anonymous_health_says_only_ok_and_signed_in_users_see_the_detail(
    app: ApiApp,
) -> None:
    transport = httpx.ASGITransport(app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as anonymous:
        public = await anonymous.get("/healthz")
        anonymous_detail = await anonymous.get("/api/health")
    detailed = await app.client.get("/api/health")

    assert public.status_code == 200
    assert public.json() == {"status": "ok", "database": {"ok": True}, "docker": {"ok": True}}
    assert "Engine" not in public.text
    assert anonymous_detail.status_code == 401
    assert detailed.status_code == 200
    assert detailed.json()["docker"]["detail"].startswith("Docker Engine ")
    assert detailed.json()["database"]["ok"] is True
    process = detailed.json()["process"]
    assert process["tasks"] >= 1 and process["page_clients"] >= 0
