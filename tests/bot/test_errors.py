"""One root for the program's own errors, one for deploy's, and the entry points catch both."""

from __future__ import annotations

import inspect
from pathlib import Path

from bot import errors, exits
from deploy.errors import DeployError
from deploy.install import PrefixError
from deploy.settings import PbxError
from telephony import errors as telephony_errors


def _exceptions(module: object) -> list[type[BaseException]]:
    return [
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, BaseException) and value.__module__ == module.__name__  # type: ignore[attr-defined]
    ]


def test_every_error_of_ours_has_the_one_root() -> None:
    ours = _exceptions(errors) + _exceptions(telephony_errors)
    assert len(ours) > 20
    for cls in ours:
        assert issubclass(cls, errors.ConferenceBotError), cls


def test_deploy_has_its_own_root() -> None:
    assert issubclass(PbxError, DeployError) and issubclass(PrefixError, DeployError)
    assert not issubclass(DeployError, errors.ConferenceBotError)


def test_the_entry_points_explain_both_trees(tmp_path: Path) -> None:
    db = tmp_path / "conference.db"
    assert exits.explain(errors.SettingsError("X must be Y."), db) == ["X must be Y."]
    assert exits.explain(PbxError("port 5060 is taken"), db) == ["port 5060 is taken"]
    assert exits.explain(telephony_errors.PbxUnavailable(), db) == [
        telephony_errors.PbxUnavailable().message
    ]
    assert exits.explain(RuntimeError("a bug"), db) is None
