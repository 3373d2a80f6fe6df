"""What deploy.pjsip writes for phones, trunks, NAT, TLS and SRTP."""

from __future__ import annotations

import re
from pathlib import Path

from deploy.pjsip import endpoints, provider_contact_exten, transports
from deploy.settings import PbxConfig

PHONE = ("alice", "alice-password-1")


def _section(text: str, name: str, kind: str) -> dict[str, str]:
    for block in re.split(r"\n(?=\[)", text):
        if block.startswith(f"[{name}]") and f"type = {kind}" in block:
            pairs = (line.split(" = ", 1) for line in block.splitlines()[1:] if " = " in line)
            return {k: v for k, v in pairs}
    raise AssertionError(f"no [{name}] {kind} in:\n{text}")


def test_phones_take_every_kind_of_keypad_digit_and_work_behind_nat(tmp_path: Path) -> None:
    cfg = PbxConfig(run_dir=tmp_path, phones=[PHONE], trunk_ips=["203.0.113.5"])
    text = endpoints(cfg)
    phone = _section(text, "alice", "endpoint")
    assert phone["dtmf_mode"] == "auto"
    for key in ("rtp_symmetric", "force_rport", "rewrite_contact"):
        assert phone[key] == "yes"
    assert phone["direct_media"] == "no"
    assert "transport" not in phone  # replies go back over the transport the phone used
    assert "media_encryption" not in phone  # no TLS, no SRTP: as before
    trunk = _section(text, "trunk", "endpoint")
    assert (trunk["dtmf_mode"], trunk["rewrite_contact"]) == ("auto", "no")
    assert "anonymous" not in text


def test_all_addresses_leave_the_media_address_to_asterisk(tmp_path: Path) -> None:
    cfg = PbxConfig(run_dir=tmp_path, bind_address="0.0.0.0", phones=[PHONE])
    assert "media_address" not in endpoints(cfg)
    assert "bind = 0.0.0.0:5060" in transports(cfg)
    v6 = PbxConfig(run_dir=tmp_path, bind_address="::", external_address="pbx.example.net")
    assert "bind = [::]:5060" in transports(v6)


def _tls(tmp_path: Path, **kw: object) -> PbxConfig:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    return PbxConfig(run_dir=tmp_path, phones=[PHONE], tls_cert=cert, tls_key=key, **kw)  # type: ignore[arg-type]


def test_tls_offers_srtp_and_required_refuses_plain_rtp(tmp_path: Path) -> None:
    optional = _tls(tmp_path)
    tls = _section(transports(optional), "transport-tls", "transport")
    assert tls["bind"] == "127.0.0.1:5061"
    assert tls["cert_file"].startswith(str(tmp_path / "keys"))  # a private copy
    phone = _section(endpoints(optional), "alice", "endpoint")
    assert (phone["media_encryption"], phone["media_encryption_optimistic"]) == ("sdes", "yes")
    required = _section(endpoints(_tls(tmp_path, srtp="required")), "alice", "endpoint")
    assert required["media_encryption_optimistic"] == "no"


def test_registration_trunk_retries_forever_and_takes_calls_on_its_line(tmp_path: Path) -> None:
    cfg = PbxConfig(
        run_dir=tmp_path, trunk_registrar="sip:203.0.113.9:5080", trunk_user="4930123",
        trunk_password="s3cret", trunk_contact_user="conf",
    )  # fmt: skip
    text = endpoints(cfg)
    reg = _section(text, "provider", "registration")
    assert reg["auth_rejection_permanent"] == "no"
    assert int(reg["max_retries"]) >= 10**9
    assert (reg["line"], reg["endpoint"], reg["contact_user"]) == ("yes", "provider", "conf")
    assert reg["client_uri"] == "sip:4930123@203.0.113.9:5080"
    assert _section(text, "provider-auth", "auth")["password"] == "s3cret"
    assert _section(text, "provider", "endpoint")["context"] == "from-provider"
    assert provider_contact_exten(cfg).startswith("exten => conf,1,")
    assert provider_contact_exten(PbxConfig(run_dir=tmp_path)) == ""
