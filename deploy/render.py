"""Render the PBX configuration: every template in ``deploy/templates`` into
``run_dir/etc``, and the run dir's private layout around it.

Templates hold ``@NAME@`` placeholders; one left unfilled is an error, not a silent
gap.  Files holding secrets (the AMI password, SIP passwords) are mode 0600.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from deploy.bans import BanFile
from deploy.credentials import AmiCredentials
from deploy.files import symlink, write_file
from deploy.install import AsteriskInstall
from deploy.modules import MODULES
from deploy.pjsip import (
    ca_file,
    endpoints,
    provider_contact_exten,
    tls_files,
    transports,
    verifies_registrar,
)
from deploy.settings import PbxConfig, PbxError

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Files holding secrets.
_SECRET_FILES = frozenset({"manager.conf", "pjsip.conf"})
_SUN_PATH_MAX = 107


def _render_template(name: str, values: Mapping[str, str]) -> str:
    text = (TEMPLATES / name).read_text()
    # One pass over the template alone: a value (a password...) is never read as a
    # placeholder, and an unfilled placeholder is an error that names only the template's.
    left = sorted({m for m in re.findall(r"@([A-Z_]+)@", text) if m not in values})
    if left:
        raise PbxError(f"template {name}: unfilled placeholders {left}")
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], text)


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
    # Music on hold: musiconhold.conf's "moh" is relative to this private astdatadir.
    if install.data_dir is not None and (install.data_dir / "moh").is_dir():
        symlink(install.data_dir / "moh", run / "data" / "moh")

    if cfg.tls_cert is not None and cfg.tls_key is not None:
        # Private copies, readable by Asterisk alone, whoever owns the originals.
        for src, dst in zip((cfg.tls_cert, cfg.tls_key), tls_files(cfg), strict=True):
            try:
                write_file(dst, src.read_text(), 0o600)
            except (OSError, UnicodeDecodeError) as exc:
                raise PbxError(f"cannot read the TLS file {src}: {exc}") from None
    if verifies_registrar(cfg):
        # The CAs this machine trusts (SSL_CERT_FILE, else the system's bundle).
        bundle = ssl.get_default_verify_paths().cafile
        try:
            write_file(ca_file(cfg), Path(bundle or "").read_text(), 0o600)
        except (OSError, UnicodeDecodeError) as exc:
            raise PbxError(
                "the registrar is reached over TLS, and its certificate is checked against "
                f"this machine's CAs, which could not be read ({bundle or 'none found'}: "
                f"{exc}); install ca-certificates, or point SSL_CERT_FILE at the CA file "
                "the provider's certificate is signed by"
            ) from None
    values = {
        "RUN_DIR": str(run),
        "MODULE_DIR": str(install.module_dir),
        "MODULE_LOADS": "\n".join(f"load => {m}" for m in MODULES),
        "AMI_ADDRESS": cfg.ami_address,
        "AMI_PORT": str(cfg.ami_port),
        "AMI_USER": creds.username,
        "AMI_SECRET": creds.password,
        "AMI_PERMIT": f"{cfg.ami_address}/255.255.255.255",
        "HTTP_ADDRESS": cfg.http_address,
        "HTTP_PORT": str(cfg.http_port),
        "RTP_START": str(cfg.rtp_start),
        "RTP_END": str(cfg.rtp_end),
        "TRANSPORTS": transports(cfg),
        "ENDPOINTS": endpoints(cfg),
        "PROVIDER_CONTACT_EXTEN": provider_contact_exten(cfg),
        "LOCKOUT_GLOBALS": cfg.lockouts.dialplan_globals(),
        "CALL_GLOBALS": cfg.call_globals(),
    }
    for tpl in sorted(TEMPLATES.glob("*.conf")):
        text = _render_template(tpl.name, values)
        mode = 0o600 if tpl.name in _SECRET_FILES else 0o644
        write_file(cfg.etc_dir / tpl.name, text, mode)
    # Bans hold from the first moment (whoever starts Asterisk); expired ones are left out.
    BanFile(run).write_acl()
    return cfg.asterisk_conf
