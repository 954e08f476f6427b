"""The demo's survey tool: the world's NPS answers written as the CSV export the pipeline imports.

Retailers collect NPS with a survey tool (Zendesk has none), which exports its responses as a CSV file
(format: `c360.nps_import`). The demo sources write one such file, `demo-nps-export.csv`, into the
pipeline's import folder when they start and again after every simulated day, holding every answer so
far (as an export of the whole survey does). It is written as German Excel saves "CSV UTF-8":
semicolon-separated, with a byte order mark, CRLF line ends; through a temporary file renamed into
place, so an import never reads half a file.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

EXPORT_NAME = "demo-nps-export.csv"
COLUMNS = ("response_id", "responded_at", "email", "customer_reference", "score", "comment", "survey")


def export_rows(world) -> list[dict]:
    """The world's NPS answers as export rows (world key `nps/responses`, whose `id` is the response id)."""
    return [{"response_id": rec["id"], **{c: rec.get(c) for c in COLUMNS[1:]}}
            for rec in world.iter_records("nps/responses")]


def render_export(rows: list[dict]) -> bytes:
    """The rows as the CSV file: semicolons, BOM, CRLF; empty cells for missing values."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def write_export(world, directory: Path) -> Path:
    """Write the world's export into `directory` (created if missing); returns the file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / EXPORT_NAME
    partial = directory / f".{EXPORT_NAME}.{os.getpid()}.partial"  # not `*.csv`: never imported
    partial.write_bytes(render_export(export_rows(world)))
    os.replace(partial, path)
    return path
