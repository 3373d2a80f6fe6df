"""Attack drills against issue 10 (lockouts, bans, calls outliving the bot), against a real
Asterisk on loopback. Each test is one attack; those here held when tried and are kept so
that they keep holding."""

from __future__ import annotations

from urllib.parse import quote

from tests.telephony.test_login_bans import Guarded, ban_pbx, guarded  # noqa: F401 (fixtures)

FORGER, VICTIM = "127.0.0.6", "127.0.0.3"


def whole_event(address: str) -> str:
    """An account name that ends Asterisk's AMI event early and makes a whole security event
    of its own (Privilege, Service, both addresses), then starts a third message that takes
    Asterisk's own remaining lines (its real RemoteAddress among them)."""
    forged = (
        "x\r\n\r\n"
        "Event: InvalidAccountID\r\nPrivilege: security,all\r\nService: PJSIP\r\n"
        "LocalAddress: IPV4/UDP/127.0.0.1/5060\r\n"
        f"RemoteAddress: IPV4/UDP/{address}/5060\r\n\r\n"
        "Trailer: y"
    )
    return quote(forged, safe="")


async def test_an_account_name_cannot_forge_a_whole_security_event(guarded: Guarded) -> None:  # noqa: F811
    """A source guessing with account names that carry a complete security event of their
    own must get itself banned, never the address named in them. (Holds today because
    Asterisk cuts the account name of ``InvalidAccountID`` to 36 characters, too short for a
    whole event.)"""
    async with guarded.registrar(FORGER) as forger:
        for _ in range(30):
            # Until refused (403: banned); a late answer under load is no reason to stop.
            status = await forger.register(whole_event(VICTIM), "x", timeout=2.0)
            if status == 403:
                break
        assert status == 403
    await guarded.defences.bans.wait_idle()
    banned = [b.address for b in guarded.store.load()]
    assert banned == [FORGER] and VICTIM not in banned, banned
