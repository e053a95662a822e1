"""`medivoy outbox` against the real database: each message with its attachments, and the files
written out by --save-attachments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.providers.channels import Attachment
from activities.providers.outbox import OutboxEmail, read_outbox
from cli.main import build_parser

PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run_cli(*argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    code: int = args.handler(args)
    return code


async def test_outbox_lists_attachments_and_saves_them(
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    email = OutboxEmail(sessionmaker)
    await email.send_email(
        "ana@example.com",
        "Invoice MV-INV-2026-000007",
        "Your invoice is attached.",
        "<p>Your invoice is attached.</p>",
        "cli:1",
        (
            Attachment("MV-INV-2026-000007.pdf", PDF, "application/pdf"),
            # A hostile name stays inside the folder it is saved to.
            Attachment("../../escape.txt", b"notes", "text/plain"),
        ),
    )
    await email.send_email("bob@example.com", "Hello", "No files.", "<p>No files.</p>", "cli:2")
    monkeypatch.setenv("MEDIVOY_DATABASE_URL", database_url)
    [message] = await read_outbox(sessionmaker, dedupe_key="cli:1")
    out_dir = tmp_path / "saved"

    code = await asyncio.to_thread(
        run_cli, "outbox", "--to", "ana@example.com", "--save-attachments", str(out_dir)
    )

    assert code == 0
    printed = capsys.readouterr().out
    assert "Subject: Invoice MV-INV-2026-000007" in printed
    assert f"Attachment: MV-INV-2026-000007.pdf (application/pdf, {len(PDF)} B)" in printed
    assert "Attachment: ../../escape.txt (text/plain, 5 B)" in printed
    assert "bob@example.com" not in printed
    assert await asyncio.to_thread(files_under, tmp_path) == {
        f"saved/{message.id}/MV-INV-2026-000007.pdf": PDF,
        f"saved/{message.id}/escape.txt": b"notes",
    }

    # Without the option nothing is written; a message without files lists none.
    assert await asyncio.to_thread(run_cli, "outbox", "--to", "BOB@example.com") == 0
    printed = capsys.readouterr().out
    assert "Subject: Hello" in printed and "Attachment:" not in printed
