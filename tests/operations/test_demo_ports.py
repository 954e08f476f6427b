"""`c360 demo` takes the demo sources' port as an option and refuses a busy one with a clear error
(before, the port was fixed at 8765: a second demo either failed or talked to the first one's sources)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from c360_cli.main import _bindable_port


def test_a_busy_sources_port_is_refused_naming_the_option(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(
            [sys.executable, "-m", "c360_cli.main", "demo", "--persons", "20", "--sources-port", str(port)],
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}, capture_output=True, text=True, timeout=120,
        )
    assert finished.returncode != 0
    assert f"port {port}" in finished.stderr and "--sources-port" in finished.stderr


def test_port_zero_picks_a_free_port_and_a_free_port_is_kept():
    free = _bindable_port("127.0.0.1", 0)
    assert free > 0
    assert _bindable_port("127.0.0.1", free) == free
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free))
        taken.listen()
        with pytest.raises(SystemExit, match="in use"):
            _bindable_port("127.0.0.1", free)
