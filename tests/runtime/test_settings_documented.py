""".env.example documents every setting, with its real default, and nothing else."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from runtime.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
PREFIX = Settings.model_config.get("env_prefix", "")
LINE = re.compile(r"^([A-Z0-9_]+)=(.*)$")


def _documented() -> dict[str, int]:
    """Variable name -> line index, for each assignment in .env.example."""
    found: dict[str, int] = {}
    for index, line in enumerate(ENV_EXAMPLE.read_text().splitlines()):
        match = LINE.match(line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is listed twice"
            found[match.group(1)] = index
    return found


def test_every_setting_is_in_env_example() -> None:
    expected = {PREFIX.upper() + name.upper() for name in Settings.model_fields}
    missing = sorted(expected - set(_documented()))
    assert not missing, f"add to .env.example (with a comment): {missing}"


def test_env_example_lists_only_real_settings() -> None:
    expected = {PREFIX.upper() + name.upper() for name in Settings.model_fields}
    unknown = sorted(set(_documented()) - expected)
    assert not unknown, f"in .env.example but not in runtime/settings.py: {unknown}"


def test_every_setting_in_env_example_has_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    uncommented = [
        name for name, index in _documented().items() if not lines[index - 1].startswith("# ")
    ]
    assert not uncommented, f"give each a one-line comment just above it: {uncommented}"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(PREFIX.upper()):
            monkeypatch.delenv(name)
    defaults = Settings(_env_file=None)
    documented = Settings(_env_file=ENV_EXAMPLE)
    differ = {
        name: (getattr(documented, name), getattr(defaults, name))
        for name in Settings.model_fields
        if getattr(documented, name) != getattr(defaults, name)
    }
    assert not differ, f"(.env.example, default) differ: {differ}"
