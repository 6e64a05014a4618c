"""The database fixture's contract: an unreachable PostgreSQL fails under CI and is skipped elsewhere."""

from __future__ import annotations

import re

import pytest

from tests import conftest


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
async def test_an_unreachable_postgresql(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(conftest, "POSTGRES_DSN", "postgresql://postgres@127.0.0.1:1/test")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(
        outcome, match=re.escape("PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/test")
    ):
        await conftest._postgres_schema()
