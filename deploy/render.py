"""Render the PBX configuration: every template in ``deploy/templates`` into
``run_dir/etc``, and the run dir's private layout around it.

Templates hold ``@NAME@`` placeholders; one left unfilled is an error, not a silent
gap.  Files holding secrets (the AMI password, SIP passwords) are mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

from deploy.credentials import AmiCredentials
from deploy.files import symlink, write_file
from deploy.install import AsteriskInstall
from deploy.modules import MODULES
from deploy.settings import PbxConfig, PbxError

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Files holding secrets.
_SECRET_FILES = frozenset({"manager.conf", "pjsip.conf"})
_SUN_PATH_MAX = 107


def _endpoint_sections(cfg: PbxConfig) -> str:
    media = (
        f"media_address = {cfg.bind_address}\n"
        "bind_rtp_to_media_address = yes\n"
        "direct_media = no\n"
        "rtp_symmetric = yes\n"
        "disallow = all\n"
        "allow = ulaw,alaw,gsm\n"
        "dtmf_mode = rfc4733\n"
        "transport = transport-udp\n"
        "allow_subscribe = no\n"
    )
    out: list[str] = []
    for user, password in cfg.phones:
        out.append(
            f"[{user}]\ntype = endpoint\ncontext = from-phones\nidentify_by = username\n"
            f"auth = {user}\naors = {user}\n{media}\n"
            f"[{user}]\ntype = auth\nauth_type = userpass\n"
            f"username = {user}\npassword = {password}\n\n"
            f"[{user}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        )
    if cfg.trunk_ips:
        out.append(
            f"[trunk]\ntype = endpoint\ncontext = from-trunk\nidentify_by = ip\n{media}\n"
            f"[trunk]\ntype = identify\nendpoint = trunk\nmatch = {','.join(cfg.trunk_ips)}\n"
        )
    return "\n".join(out)


def _render_template(name: str, values: Mapping[str, str]) -> str:
    text = (TEMPLATES / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise PbxError(f"template {name}: unfilled placeholders {sorted(set(left))}")
    return text


def render_config(cfg: PbxConfig, install: AsteriskInstall, creds: AmiCredentials) -> Path:
    """Write every ``.conf`` into ``run_dir/etc`` and prepare the run dir.

    Returns the path of ``asterisk.conf`` (pass it to ``asterisk -C``).
    """
    run = cfg.run_dir
    ctl = run / "run" / "asterisk.ctl"
    if len(str(ctl)) > _SUN_PATH_MAX:
        raise PbxError(
            f"run dir {run} is too long: the control socket path {ctl} exceeds the "
            f"{_SUN_PATH_MAX}-character Unix socket limit; use a shorter run dir"
        )
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(run, 0o700)
    for sub in (
        "etc",
        "lib",
        "db",
        "keys",
        "data",
        "data/sounds",
        "agi-bin",
        "spool",
        "run",
        "log",
        "sbin",
    ):
        (run / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    # Private astdatadir: sounds/<lang> -> the install's sound sets.
    for lang, src in install.sounds_dirs.items():
        symlink(src, run / "data" / "sounds" / lang)
    if install.data_dir is not None and (install.data_dir / "documentation").is_dir():
        symlink(install.data_dir / "documentation", run / "data" / "documentation")

    try:
        permit_loopback = ipaddress.ip_address(cfg.bind_address).is_loopback
    except ValueError:
        permit_loopback = False
    if permit_loopback and ipaddress.ip_address(cfg.bind_address).version == 4:
        permit = "127.0.0.0/255.0.0.0"
    elif ipaddress.ip_address(cfg.bind_address).version == 4:
        permit = f"{cfg.bind_address}/255.255.255.255"
    else:
        permit = f"{cfg.bind_address}/128"
    values = {
        "RUN_DIR": str(run),
        "MODULE_DIR": str(install.module_dir),
        "MODULE_LOADS": "\n".join(f"load => {m}" for m in MODULES),
        "BIND_ADDRESS": cfg.bind_address,
        "SIP_PORT": str(cfg.sip_port),
        "AMI_PORT": str(cfg.ami_port),
        "AMI_USER": creds.username,
        "AMI_SECRET": creds.password,
        "AMI_PERMIT": permit,
        "RTP_START": str(cfg.rtp_start),
        "RTP_END": str(cfg.rtp_end),
        "ENDPOINTS": _endpoint_sections(cfg),
    }
    for tpl in sorted(TEMPLATES.glob("*.conf")):
        text = _render_template(tpl.name, values)
        mode = 0o600 if tpl.name in _SECRET_FILES else 0o644
        write_file(cfg.etc_dir / tpl.name, text, mode)
    return cfg.asterisk_conf
