"""The embedded PostgreSQL: the bundled server's version, and a data dir it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.postgres import EmbeddedPostgres, free_port, server_major_version


def test_the_bundled_server_is_postgresql_18() -> None:
    assert server_major_version() == "18"


def test_a_data_dir_of_another_major_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    server = EmbeddedPostgres(tmp_path, free_port())
    with pytest.raises(RuntimeError, match="made by PostgreSQL 16") as refused:
        server.start()
    assert "Move that folder aside" in str(refused.value)
    assert server.process is None  # nothing was started
    assert (pgdata / "PG_VERSION").read_text() == "16\n"  # and nothing was touched
