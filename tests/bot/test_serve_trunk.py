"""The running product with a registration trunk to a real provider: the startup line and
``pbx status`` say whether it is registered, and why not."""

from __future__ import annotations

import json

from tests.bot.test_serve import Served, serve  # noqa: F401 (the fixture)
from tests.provider_pbx import (
    TRUNK_PASSWORD,
    TRUNK_USER,
    ProviderPbx,
    provider,  # noqa: F401 (the fixture)
)


def trunk_env(registrar: ProviderPbx, password: str = TRUNK_PASSWORD) -> dict[str, str]:
    return {
        "PBX_TRUNK_REGISTRAR": registrar.cfg.registrar_uri,
        "PBX_TRUNK_USER": TRUNK_USER,
        "PBX_TRUNK_PASSWORD": password,
    }


async def test_startup_line_and_status_show_a_registered_trunk(
    serve,  # noqa: F811
    provider: ProviderPbx,  # noqa: F811
) -> None:
    served: Served = await serve(**trunk_env(provider))
    await served.wait_log("Ready:")
    uri = provider.cfg.registrar_uri
    [ready] = [line for line in served.lines if "Ready:" in line]
    assert f"trunk: registered to {uri} as {TRUNK_USER}." in ready

    code, out = await served.cli("pbx", "status", "--json")
    assert code == 0
    trunk = json.loads(out)["trunk"]
    assert (trunk["state"], trunk["registrar"], trunk["user"]) == ("registered", uri, TRUNK_USER)
    assert trunk["reason"] is None and trunk["retry_interval"] == 10
    code, out = await served.cli("pbx", "status")
    assert f"Trunk:     registered to {uri} as {TRUNK_USER} since " in out
    assert TRUNK_PASSWORD not in served.log + out
    assert await provider.contact_uris()


async def test_a_wrong_password_shows_as_rejected_with_its_reason(
    serve,  # noqa: F811
    provider: ProviderPbx,  # noqa: F811
) -> None:
    served: Served = await serve(**trunk_env(provider, password="wrong-password"))
    await served.wait_log("Ready:")
    [ready] = [line for line in served.lines if "Ready:" in line]
    assert (
        "trunk: rejected (401 Unauthorized: check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD); "
        "retrying every 10 s." in ready
    )
    code, out = await served.cli("pbx", "status", "--json")
    trunk = json.loads(out)["trunk"]
    assert (trunk["state"], trunk["sip_status"]) == ("rejected", 401)
    code, out = await served.cli("pbx", "status")
    assert (
        "Trunk:     rejected (401 Unauthorized: check PBX_TRUNK_USER and PBX_TRUNK_PASSWORD)" in out
    )
    assert "; retrying every 10 s" in out
    assert "wrong-password" not in served.log + out


async def test_status_without_a_trunk_says_so(serve) -> None:  # noqa: F811
    served: Served = await serve()
    await served.wait_log("Ready:")
    [ready] = [line for line in served.lines if "Ready:" in line]
    assert "registration trunk: none (PBX_TRUNK_REGISTRAR)" in ready
    code, out = await served.cli("pbx", "status", "--json")
    assert json.loads(out)["trunk"] is None
    code, out = await served.cli("pbx", "status")
    assert "Trunk:     no registration trunk (PBX_TRUNK_REGISTRAR)" in out
