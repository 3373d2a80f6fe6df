"""The AMI login: a fixed user name and a random password, kept in the run dir (mode 0600).

Created on first use and reused afterwards, so the bot, the CLI and a running Asterisk
agree on it without it ever being configured, printed or logged.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from deploy.checks import PASSWORD_RE
from deploy.settings import PbxError

CREDENTIALS_FILE = "ami-credentials.json"
AMI_USERNAME = "conference-bot"


@dataclass(frozen=True)
class AmiCredentials:
    username: str
    password: str = field(repr=False)


def load_or_create_ami_credentials(run_dir: Path) -> AmiCredentials:
    """AMI username and random password from ``run_dir/ami-credentials.json``,
    created (mode 0600) on first use and reused afterwards."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / CREDENTIALS_FILE
    if path.exists():
        try:
            data = json.loads(path.read_text())
            creds = AmiCredentials(username=str(data["username"]), password=str(data["password"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PbxError(
                f"{path} is unreadable ({type(exc).__name__}); "
                "delete it to generate new credentials"
            ) from None
        if not creds.username or not PASSWORD_RE.match(creds.password):
            raise PbxError(f"{path} holds invalid credentials; delete it to generate new ones")
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return creds
    creds = AmiCredentials(username=AMI_USERNAME, password=secrets.token_urlsafe(24))
    text = json.dumps({"username": creds.username, "password": creds.password}) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        os.link(tmp, path)  # fails if another process created it meanwhile
    except FileExistsError:
        tmp.unlink()
        return load_or_create_ami_credentials(run_dir)
    tmp.unlink()
    return creds
