from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.repository import Repository
from bot.service import ConferenceService

pytest_plugins = ["tests.pbx_fixtures"]


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repository = await Repository.open(tmp_path / "conference.db")
    yield repository
    await repository.close()


@pytest.fixture
async def service(repo: Repository) -> ConferenceService:
    svc = ConferenceService(repo)
    await svc.setup_server("800", "test:admin")
    return svc
