"""A missing browser skips the browser tests outside CI and fails them under CI."""

from __future__ import annotations

import pytest

from tests.browser.conftest import skip_or_fail_browser


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_missing_browser_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                          outcome: type[BaseException]) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium is missing"):
        skip_or_fail_browser("chromium is missing")
