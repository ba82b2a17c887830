"""Real `kaohe serve` processes for the tests that talk to one over HTTP (one worker or several)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

KAOHE = str(Path(sys.executable).with_name("kaohe"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict[str, str], cwd: Any, *args: str, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    """Start `kaohe serve` on a free port with `args`; return it and its base URL once /health answers 200."""
    port = free_port()
    server = subprocess.Popen([KAOHE, "serve", "--port", str(port), *args], env=env, cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"kaohe serve did not start: {server.stdout.read()}")
        time.sleep(0.1)
