"""``ui`` (--ui/--no-ui, MESHPLANE_UI): a boolean setting read from the environment."""

from __future__ import annotations

import pytest

from meshplane.config import Config


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("YES", True), ("on", True),
                                                ("0", False), ("false", False), ("No", False), ("off", False)])
def test_ui_from_environment(raw: str, expected: bool) -> None:
    assert Config.from_env({"MESHPLANE_UI": raw}).ui is expected


def test_ui_defaults_on_and_round_trips_through_to_env() -> None:
    assert Config.from_env({}).ui is True
    off = Config.from_env({}, ui=False)
    assert Config.from_env(off.to_env()).ui is False


def test_ui_rejects_other_words() -> None:
    with pytest.raises(ValueError, match="MESHPLANE_UI"):
        Config.from_env({"MESHPLANE_UI": "maybe"})
