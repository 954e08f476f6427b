"""The demo sources are a development-only package: the product runs without them, and the CLI
commands that start them say so when they are missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from c360_cli import main as cli


def test_product_modules_do_not_import_the_demo_sources():
    code = (
        "import sys, c360_cli.main, c360.settings, connectors, orchestration.definitions\n"
        "assert 'demo_sources' not in sys.modules, sorted(m for m in sys.modules if m.startswith('demo_sources'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "argv",
    [
        ["sources", "generate", "--persons", "5", "--out", "unused"],
        ["sources", "serve", "--persons", "5"],
        ["demo", "--persons", "5"],
    ],
)
def test_commands_that_start_the_demo_sources_say_they_are_not_installed(argv, monkeypatch, capsys):
    # `None` in sys.modules makes the package unimportable, as where only the c360 wheel is installed.
    monkeypatch.setitem(sys.modules, "demo_sources", None)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "demo sources are not installed" in err
    assert "Traceback" not in err
