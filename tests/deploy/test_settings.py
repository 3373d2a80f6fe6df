"""PBX_* settings (deploy.settings): errors name the variable and never echo a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.settings import PbxConfig, parse_port


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
            "PBX_PHONES": "alice:s1, bob:s2",
            "PBX_TRUNK_IPS": "127.0.0.2",
            "PBX_RTP_PORTS": "20000-20099",
        },
        tmp_path,
    )
    assert cfg.phones == [("alice", "s1"), ("bob", "s2")]
    assert (cfg.bind_address, cfg.sip_port, cfg.ami_port) == ("127.0.0.1", 5060, 5038)
    assert (cfg.rtp_start, cfg.rtp_end, cfg.trunk_ips) == (20000, 20099, ["127.0.0.2"])


def test_one_port_parser_names_the_setting() -> None:
    assert parse_port("PBX_SIP_PORT", " 5060 ") == 5060
    assert parse_port("sip", 65535) == 65535
    for bad in ("0", "65536", "50a", ""):
        with pytest.raises(ValueError, match="PBX_AMI_PORT must be a port number"):
            parse_port("PBX_AMI_PORT", bad)
