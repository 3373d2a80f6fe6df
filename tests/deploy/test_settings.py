"""PBX_* settings (deploy.settings): errors name the variable and never echo a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.checks import parse_port
from deploy.settings import PbxConfig


def test_settings_errors_name_the_variable(tmp_path: Path) -> None:
    cases = {
        "PBX_SIP_PORT": ("abc", "PBX_SIP_PORT"),
        "PBX_RTP_PORTS": ("5000-6000", "PBX_RTP_PORTS"),
        "PBX_PHONES": ("alice", "PBX_PHONES"),
        "PBX_TRUNK_IPS": ("not-an-ip", "PBX_TRUNK_IPS"),
    }
    for key, (value, named) in cases.items():
        with pytest.raises(ValueError, match=named):
            PbxConfig.from_env({key: value}, tmp_path)
    with pytest.raises(ValueError) as caught:
        PbxConfig.from_env({"PBX_PHONES": "alice:bad pass"}, tmp_path)
    assert "bad pass" not in str(caught.value)
    cfg = PbxConfig.from_env(
        {
            "PBX_PHONES": "alice:secret-one-1, bob:secret-two-22",
            "PBX_TRUNK_IPS": "127.0.0.2",
            "PBX_RTP_PORTS": "20000-20099",
        },
        tmp_path,
    )
    assert cfg.phones == [("alice", "secret-one-1"), ("bob", "secret-two-22")]
    assert (cfg.bind_address, cfg.sip_port, cfg.ami_port) == ("127.0.0.1", 5060, 5038)
    assert (cfg.rtp_start, cfg.rtp_end, cfg.trunk_ips) == (20000, 20099, ["127.0.0.2"])


def test_one_port_parser_names_the_setting() -> None:
    assert parse_port("PBX_SIP_PORT", " 5060 ") == 5060
    assert parse_port("sip", 65535) == 65535
    for bad in ("0", "65536", "50a", ""):
        with pytest.raises(ValueError, match="PBX_AMI_PORT must be a port number"):
            parse_port("PBX_AMI_PORT", bad)


def _pem(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    return cert, key


def test_network_settings_errors_say_what_to_do(tmp_path: Path) -> None:
    cert, key = _pem(tmp_path)
    cases: list[tuple[dict[str, str], str]] = [
        ({"PBX_SIP_BIND": "eth0"}, "PBX_SIP_BIND must be an IP address"),
        ({"PBX_EXTERNAL_ADDRESS": "bad host!"}, "PBX_EXTERNAL_ADDRESS must be an IP address"),
        ({"PBX_LOCAL_NETS": "192.168.1.0/24,lan"}, "PBX_LOCAL_NETS: 'lan' is not a network"),
        ({"PBX_TLS_CERT": str(cert)}, "PBX_TLS_KEY is not set"),
        ({"PBX_TLS_CERT": str(key), "PBX_TLS_KEY": str(key)}, "PBX_TLS_CERT: .* certificate"),
        ({"PBX_TLS_CERT": str(cert), "PBX_TLS_KEY": str(tmp_path / "nope")}, "cannot read"),
        ({"PBX_TLS_PORT": "5060"}, "PBX_TLS_PORT 5060 is also PBX_SIP_PORT"),
        ({"PBX_SRTP": "always"}, "PBX_SRTP must be optional or required"),
        ({"PBX_SRTP": "required"}, "PBX_SRTP=required needs TLS"),
        ({"PBX_TRUNK_REGISTRAR": "sip:sip.example.net"}, "missing: PBX_TRUNK_USER"),
        ({"PBX_TRUNK_CONTACT_USER": "x"}, "PBX_TRUNK_REGISTRAR is not"),
        (
            {
                "PBX_TRUNK_REGISTRAR": "sip:sip.example.net",
                "PBX_TRUNK_USER": "_X.",
                "PBX_TRUNK_PASSWORD": "p",
            },
            "PBX_TRUNK_USER .* starting with a letter",
        ),  # fmt: skip
        (
            {"PBX_TRUNK_REGISTRAR": "http://x", "PBX_TRUNK_USER": "u", "PBX_TRUNK_PASSWORD": "p"},
            "PBX_TRUNK_REGISTRAR must be a SIP URI",
        ),
        (
            {
                "PBX_TRUNK_REGISTRAR": "sips:sip.example.net",
                "PBX_TRUNK_USER": "u",
                "PBX_TRUNK_PASSWORD": "p",
            },
            "needs this server's own TLS certificate",
        ),  # fmt: skip
    ]
    for env, message in cases:
        with pytest.raises(ValueError, match=message):
            PbxConfig.from_env(env, tmp_path)
    secret = "pa ss;word"
    with pytest.raises(ValueError, match="PBX_TRUNK_PASSWORD") as caught:
        PbxConfig.from_env(
            {"PBX_TRUNK_REGISTRAR": "sip:sip.example.net", "PBX_TRUNK_USER": "u",
             "PBX_TRUNK_PASSWORD": secret},
            tmp_path,
        )  # fmt: skip
    assert secret not in str(caught.value)


def test_nothing_set_listens_as_before_and_everything_set_is_listed(tmp_path: Path) -> None:
    plain = PbxConfig.from_env({}, tmp_path)
    assert (plain.bind_address, plain.tls, plain.external_address) == ("127.0.0.1", False, None)
    assert plain.registration is None
    assert [(x["service"], x["protocol"], x["address"], x["port"]) for x in plain.listeners()] == [
        ("sip", "udp", "127.0.0.1", 5060),
        ("sip", "tcp", "127.0.0.1", 5060),
        ("rtp", "udp", "127.0.0.1", "10000-10999"),
        ("ami", "tcp", "127.0.0.1", 5038),
        ("http-ws", "tcp", "127.0.0.1", 8088),
    ]
    cert, key = _pem(tmp_path)
    cfg = PbxConfig.from_env(
        {
            "PBX_SIP_BIND": "0.0.0.0",
            "PBX_EXTERNAL_ADDRESS": "pbx.example.net",
            "PBX_LOCAL_NETS": "192.168.1.0/24, 10.0.0.0/8",
            "PBX_TLS_CERT": str(cert),
            "PBX_TLS_KEY": str(key),
            "PBX_SRTP": "required",
            "PBX_TRUNK_REGISTRAR": "sip:sip.example.net:5080;transport=tcp",
            "PBX_TRUNK_USER": "4930123",
            "PBX_TRUNK_PASSWORD": "s3cret",
        },
        tmp_path,
    )
    assert "s3cret" not in repr(cfg)
    assert cfg.contact_user == "4930123"
    reg = cfg.registration
    assert reg is not None and (reg.host, reg.port, reg.transport) == (
        "sip.example.net",
        5080,
        "tcp",
    )
    listed = {(x["service"], x["address"], x["port"], x["public"]) for x in cfg.listeners()}
    assert ("sip-tls", "0.0.0.0", 5061, True) in listed
    assert ("ami", "127.0.0.1", 5038, False) in listed  # AMI never follows PBX_SIP_BIND
    assert ("http-ws", "127.0.0.1", 8088, False) in listed  # nor does Asterisk's HTTP server


def test_asterisk_http_port_is_loopback_and_clashes_with_nothing(tmp_path: Path) -> None:
    """PBX_HTTP_PORT (browser join's SIP WebSocket, issue 12): 127.0.0.1 only, whatever
    PBX_SIP_BIND says, and never a port something else of the PBX listens on."""
    cfg = PbxConfig.from_env({"PBX_HTTP_PORT": "18088", "PBX_SIP_BIND": "0.0.0.0"}, tmp_path)
    assert (cfg.http_port, cfg.http_address) == (18088, "127.0.0.1")
    assert cfg.ws_url == "ws://127.0.0.1:18088/ws"
    with pytest.raises(ValueError, match="PBX_HTTP_PORT must be a port number"):
        PbxConfig.from_env({"PBX_HTTP_PORT": "http"}, tmp_path)
    for env, clash in (({"PBX_HTTP_PORT": "5038"}, "AMI port"),
                       ({"PBX_HTTP_PORT": "5070", "PBX_SIP_PORT": "5070"}, "SIP port"),
                       ({"PBX_HTTP_PORT": "10500"}, "RTP range")):  # fmt: skip
        with pytest.raises(ValueError, match=f"PBX_HTTP_PORT.*{clash}"):
            PbxConfig.from_env(env, tmp_path)
