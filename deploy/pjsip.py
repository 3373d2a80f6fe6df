"""The PJSIP part of the configuration: transports (UDP and TCP always, TLS when a
certificate is set) with their NAT settings, the phones, and both kinds of carrier trunk.

What every endpoint gets, and why:
- ``dtmf_mode = auto``: RFC 4733 events when the caller offers them, in-band tones when it
  does not (SIP INFO digits are taken either way: ``res_pjsip_dtmf_info`` is loaded).
- ``rtp_symmetric``, ``force_rport``, ``direct_media = no``: answer to where packets come
  from, so a phone behind NAT hears audio; phones also get ``rewrite_contact``.
- With TLS, ``media_encryption = sdes``: SRTP for callers that offer it (``optimistic``),
  or for every call when SRTP is required (a plain RTP offer then gets 488).
- No ``anonymous`` endpoint: a caller who is neither a phone nor a trunk is refused; the
  registration's endpoint is matched by its ``line`` tag only, never by the From user.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from deploy.settings import HTTP_ADDRESS, PbxConfig

REGISTRATION = "provider"  # the registration, its endpoint, and "<name>-auth"
PROVIDER_CONTEXT = "from-provider"
# A carrier may be down for a long time: keep trying, never give up for good.
_RETRY = {
    "retry_interval": 10,
    "forbidden_retry_interval": 30,
    "fatal_retry_interval": 30,
    "max_retries": 1_000_000_000,
    "expiration": 120,
    "max_random_initial_delay": 1,
}


def tls_files(cfg: PbxConfig) -> tuple[Path, Path]:
    """Where the run dir keeps its private copies of the TLS certificate and key."""
    keys = cfg.run_dir / "keys"
    return keys / "sip-tls.crt", keys / "sip-tls.key"


def ca_file(cfg: PbxConfig) -> Path:
    """The run dir's copy of the CAs a registrar reached over TLS must be certified by."""
    return cfg.run_dir / "keys" / "ca.pem"


def verifies_registrar(cfg: PbxConfig) -> bool:
    """Whether the registration goes over TLS, so that the registrar's certificate must be
    checked (trusted CA, name matching the registrar's host)."""
    reg = cfg.registration
    return reg is not None and reg.transport == "tls"


def _hostport(address: str, port: int) -> str:
    return (
        f"[{address}]:{port}"
        if ipaddress.ip_address(address).version == 6
        else (f"{address}:{port}")
    )


def _specific(address: str) -> bool:
    return not ipaddress.ip_address(address).is_unspecified


def _local_nets(cfg: PbxConfig) -> list[str]:
    nets = list(cfg.local_nets)
    if _specific(cfg.bind_address):
        # The server's own address is always local: Asterisk rewrites the SDP only when its
        # own media address is inside local_net.
        own = ipaddress.ip_address(cfg.bind_address)
        if not any(own in ipaddress.ip_network(n, strict=False) for n in nets):
            nets.insert(0, str(ipaddress.ip_network(own)))
    return nets


def _nat(cfg: PbxConfig) -> str:
    if cfg.external_address is None:
        return ""
    lines = [f"local_net = {n}" for n in _local_nets(cfg)]
    lines.append(f"external_signaling_address = {cfg.external_address}")
    lines.append(f"external_media_address = {cfg.external_address}")
    return "\n".join(lines) + "\n"


def transports(cfg: PbxConfig) -> str:
    nat = _nat(cfg)
    out = []
    for proto in ("udp", "tcp"):
        out.append(
            f"[transport-{proto}]\ntype = transport\nprotocol = {proto}\n"
            f"bind = {_hostport(cfg.bind_address, cfg.sip_port)}\n{nat}"
        )
    if cfg.tls:
        cert, key = tls_files(cfg)
        out.append(
            "[transport-tls]\ntype = transport\nprotocol = tls\n"
            f"bind = {_hostport(cfg.bind_address, cfg.tls_port)}\n{nat}"
            f"cert_file = {cert}\npriv_key_file = {key}\n"
            # sslv23 = the newest version both sides have; OpenSSL 3 (the prefix's) refuses
            # anything older than TLS 1.2 (measured: 1.3 and 1.2 accepted, 1.1 refused).
            # Phones need not present a certificate.
            "method = sslv23\nverify_client = no\nrequire_client_cert = no\n"
        )
        if verifies_registrar(cfg):
            # Asterisk's default is to take any certificate from the server it connects
            # to: an impostor on the way would get our REGISTER (with its line= tag) and
            # could answer its digest challenge with the real provider's.
            out[-1] += f"verify_server = yes\nca_list_file = {ca_file(cfg)}\n"
    out.append(ws_transport())
    return "\n".join(out)


WS_TRANSPORT = "transport-ws"


def ws_transport() -> str:
    """Browser join (issue 12): SIP over WebSocket. Its traffic rides on http.conf's loopback
    server (PBX_HTTP_PORT, /ws), which the bot's web server proxies; ``bind`` is required by
    PJSIP but opens nothing. Only per-link endpoints (AstDB, ``telephony.weblinks``) use it:
    no endpoint in this file names it."""
    return f"[{WS_TRANSPORT}]\ntype = transport\nprotocol = ws\nbind = {HTTP_ADDRESS}\n"


def _media(cfg: PbxConfig, *, phone: bool) -> str:
    lines = []
    if _specific(cfg.bind_address):
        lines += [f"media_address = {cfg.bind_address}", "bind_rtp_to_media_address = yes"]
    lines += [
        "direct_media = no",
        "rtp_symmetric = yes",
        "force_rport = yes",
        f"rewrite_contact = {'yes' if phone else 'no'}",
        "disallow = all",
        "allow = ulaw,alaw,gsm",
        "dtmf_mode = auto",
        "allow_subscribe = no",
    ]
    if cfg.tls:
        optimistic = "no" if cfg.srtp == "required" else "yes"
        lines += ["media_encryption = sdes", f"media_encryption_optimistic = {optimistic}"]
    return "\n".join(lines) + "\n"


def endpoints(cfg: PbxConfig) -> str:
    out: list[str] = []
    phone_media = _media(cfg, phone=True)
    trunk_media = _media(cfg, phone=False)
    for user, password in cfg.phones:
        out.append(
            f"[{user}]\ntype = endpoint\ncontext = from-phones\nidentify_by = username\n"
            f"auth = {user}\naors = {user}\n{phone_media}\n"
            f"[{user}]\ntype = auth\nauth_type = userpass\n"
            f"username = {user}\npassword = {password}\n\n"
            f"[{user}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        )
    if cfg.trunk_ips:
        out.append(
            f"[trunk]\ntype = endpoint\ncontext = from-trunk\nidentify_by = ip\n{trunk_media}\n"
            f"[trunk]\ntype = identify\nendpoint = trunk\nmatch = {','.join(cfg.trunk_ips)}\n"
        )
    reg = cfg.registration
    if reg is not None:
        auth = f"{REGISTRATION}-auth"
        scheme = "sips" if reg.uri.startswith("sips:") else "sip"
        retry = "".join(f"{k} = {v}\n" for k, v in _RETRY.items())
        out.append(
            f"[{auth}]\ntype = auth\nauth_type = userpass\n"
            f"username = {cfg.trunk_user}\npassword = {cfg.trunk_password}\n\n"
            f"[{REGISTRATION}]\ntype = registration\ntransport = transport-{reg.transport}\n"
            f"outbound_auth = {auth}\nserver_uri = {reg.uri}\n"
            f"client_uri = {scheme}:{cfg.trunk_user}@{reg.hostport}\n"
            f"contact_user = {cfg.contact_user}\n{retry}"
            # A 401 after a password change must not stop registering for good.
            "auth_rejection_permanent = no\n"
            # Inbound calls on this registration's Contact (its line= tag) are the
            # provider's, whatever address they come from.
            f"line = yes\nendpoint = {REGISTRATION}\n\n"
            f"[{REGISTRATION}]\ntype = endpoint\ncontext = {PROVIDER_CONTEXT}\n"
            # Found by its line= tag alone: never by the From user (the default
            # identify_by has "username", and this endpoint has no inbound auth, so
            # anyone sending From: provider would be let in), nor by address (it has
            # no identify section).
            "identify_by = ip\n"
            f"transport = transport-{reg.transport}\noutbound_auth = {auth}\n{trunk_media}"
        )
    return "\n".join(out)


def provider_contact_exten(cfg: PbxConfig) -> str:
    """The dialplan line for calls to the registration's own Contact user (an exact
    extension wins over the number pattern beside it)."""
    if cfg.registration is None or cfg.contact_user is None:
        return ""
    return (
        f"exten => {cfg.contact_user},1,"
        "GotoIf(${DB_EXISTS(conference/server/number)}?conference-ivr,s,1)\n"
        " same => n,Hangup(1)\n"
    )
