"""The NPS file import (c360/nps_import.py) on real files and a real DuckDB warehouse.

The files are written here byte by byte as the survey tools and Excel write them (commas; German
Excel's semicolons with a byte order mark), and the landed rows are compared with the values written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from c360.nps_import import RESOURCE, import_nps_files, parse_responded_at

HEADER = ["response_id", "responded_at", "email", "customer_reference", "score", "comment", "survey"]


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",", bom: bool = False, header=HEADER) -> Path:
    text = "\r\n".join(delimiter.join(cells) for cells in [header, *rows]) + "\r\n"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def landed(con) -> dict[str, dict]:
    return {rid: json.loads(record) for rid, record in con.execute("select id, record from raw.nps_responses").fetchall()}


def quarantined(con) -> list[tuple[str | None, str]]:
    return con.execute("select source_id, reason from raw._quarantine where resource = ? order by reason",
                       [RESOURCE]).fetchall()


@pytest.mark.parametrize("delimiter,bom", [(",", False), (";", True), (";", False), (",", True)])
def test_comma_or_semicolon_with_or_without_bom(tmp_path, warehouse, delimiter, bom):
    write_csv(tmp_path / "export.csv", [
        ["r-1", "2026-03-29T01:30:00+01:00", "Anna.Mueller@Web.de", "", "9", "Schnelle Lieferung", "NPS"],
        ["r-2", "2026-03-29 03:30:00", " bernd@example.com ", "7000000123", "0", "Bestellung kam nie an, schade",
         "NPS"],
    ] if delimiter == ";" else [
        ["r-1", "2026-03-29T01:30:00+01:00", "Anna.Mueller@Web.de", "", "9", "Schnelle Lieferung", "NPS"],
        ["r-2", "2026-03-29 03:30:00", " bernd@example.com ", "7000000123", "0", '"Bestellung kam nie an, schade"',
         "NPS"],
    ], delimiter=delimiter, bom=bom)
    stats = import_nps_files(warehouse, tmp_path)
    rows = landed(warehouse)
    assert (stats.new, stats.quarantined, stats.files_rejected) == (2, 0, {})
    assert set(rows) == {"r-1", "r-2"}  # the BOM never sticks to the first column's name
    assert rows["r-1"] == {"response_id": "r-1", "responded_at": "2026-03-29T00:30:00Z", "email": "Anna.Mueller@Web.de",
                           "customer_reference": None, "score": 9, "comment": "Schnelle Lieferung", "survey": "NPS"}
    # no offset: Berlin local time, here the first hour of summer time (03:30 CEST = 01:30 UTC)
    assert rows["r-2"]["responded_at"] == "2026-03-29T01:30:00Z"
    assert rows["r-2"]["customer_reference"] == "7000000123" and rows["r-2"]["score"] == 0
    assert rows["r-2"]["comment"] == "Bestellung kam nie an, schade"


def test_accepted_time_zones():
    assert parse_responded_at("2026-07-01T12:00:00Z") == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert parse_responded_at("2026-07-01T14:00:00+02:00") == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert parse_responded_at("2026-07-01 14:00") == datetime(2026, 7, 1, 12, tzinfo=UTC)  # Berlin, summer
    assert parse_responded_at("2026-01-01T13:00:00.250") == datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def test_malformed_rows_are_quarantined_with_their_reasons_and_counted(tmp_path, warehouse):
    write_csv(tmp_path / "export.csv", [
        ["ok", "2026-05-01T10:00:00Z", "a@example.com", "", "10", "", ""],
        ["high", "2026-05-01T10:00:00Z", "a@example.com", "", "11", "", ""],
        ["negative", "2026-05-01T10:00:00Z", "a@example.com", "", "-1", "", ""],
        ["decimal", "2026-05-01T10:00:00Z", "a@example.com", "", "7.5", "", ""],
        ["german-date", "01.05.2026 10:00", "a@example.com", "", "8", "", ""],
        ["no-date", "", "a@example.com", "", "8", "", ""],
        ["nobody", "2026-05-01T10:00:00Z", " ", "", "8", "", ""],
        ["short", "2026-05-01T10:00:00Z", "a@example.com"],
    ])
    stats = import_nps_files(warehouse, tmp_path)
    assert set(landed(warehouse)) == {"ok"}
    assert stats.quarantined == 7 and stats.new == 1
    assert stats.quarantine_reasons == {"score is not an integer 0-10": 3, "responded_at is not an ISO 8601 date-time": 2,
                                        "no email and no customer_reference": 1, "wrong column count": 1}
    reasons = dict(quarantined(warehouse))
    assert reasons["high"] == "score is not an integer 0-10: '11'"
    assert reasons["german-date"] == "responded_at is not an ISO 8601 date-time: '01.05.2026 10:00'"
    assert reasons["nobody"].startswith("no email and no customer_reference")
    assert reasons[None] == "wrong column count: 3 cells, the header has 7"
    # read again: nothing new lands, nothing is quarantined twice
    again = import_nps_files(warehouse, tmp_path)
    assert (again.new, again.updated, again.unchanged, again.quarantined) == (0, 0, 1, 7)
    assert len(quarantined(warehouse)) == 7


def test_a_file_without_a_valid_header_is_reported_and_the_others_land(tmp_path, warehouse):
    write_csv(tmp_path / "a.csv", [["1", "2026-05-01T10:00:00Z", "a@example.com", "", "9", "", ""]])
    write_csv(tmp_path / "b.csv", [["x", "y"]], header=["Kunde", "Bewertung"])
    (tmp_path / "c.csv").write_bytes("response_id;responded_at;email;score\n1;2026-05-01;Müller@x.de;9\n".encode("cp1252"))
    (tmp_path / "notes.txt").write_text("not a csv")
    stats = import_nps_files(warehouse, tmp_path)
    assert stats.files == ["a.csv", "b.csv", "c.csv"]
    assert set(stats.files_rejected) == {"b.csv", "c.csv"}
    assert "missing responded_at, score, email or customer_reference" in stats.files_rejected["b.csv"]
    assert "'Kunde', 'Bewertung'" in stats.files_rejected["b.csv"]
    assert stats.files_rejected["c.csv"].startswith("not UTF-8")
    assert set(landed(warehouse)) == {"1"}
    assert sum(reason.startswith("file rejected") for _, reason in quarantined(warehouse)) == 2


def test_idempotent_changed_rows_replace_and_vanished_files_keep_their_answers(tmp_path, warehouse):
    first = write_csv(tmp_path / "2026-05.csv", [
        ["1", "2026-05-01T10:00:00Z", "a@example.com", "", "9", "gut", "NPS"],
        ["2", "2026-05-02T10:00:00Z", "b@example.com", "", "3", "", "NPS"],
    ], delimiter=";", bom=True)
    assert import_nps_files(warehouse, tmp_path).new == 2
    loaded_at = dict(warehouse.execute("select id, _loaded_at from raw.nps_responses").fetchall())
    again = import_nps_files(warehouse, tmp_path)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert warehouse.execute("select count(*) from raw.nps_responses").fetchone()[0] == 2
    assert dict(warehouse.execute("select id, _loaded_at from raw.nps_responses").fetchall()) == loaded_at

    # the tool's next export: response 2 corrected (3 -> 6), a new response 3; a later file wins
    write_csv(tmp_path / "2026-06.csv", [
        ["2", "2026-05-02T10:00:00Z", "b@example.com", "", "6", "doch ok", "NPS"],
        ["3", "2026-06-01T10:00:00Z", "c@example.com", "", "10", "", "NPS"],
    ], delimiter=";", bom=True)
    stats = import_nps_files(warehouse, tmp_path)
    assert (stats.new, stats.updated, stats.unchanged) == (1, 1, 1)
    rows = landed(warehouse)
    assert rows["2"]["score"] == 6 and rows["2"]["comment"] == "doch ok"
    assert warehouse.execute("select _source_file from raw.nps_responses where id = '2'").fetchone()[0] == "2026-06.csv"
    assert warehouse.execute("select count(*) from raw.nps_responses").fetchone()[0] == 3

    first.unlink()  # the folder was cleaned: the answers it held stay
    stats = import_nps_files(warehouse, tmp_path)
    assert (stats.new, stats.updated) == (0, 0)
    assert set(landed(warehouse)) == {"1", "2", "3"}
    syncs = warehouse.execute("select count(*), sum(new) from raw._syncs where resource = ?", [RESOURCE]).fetchone()
    assert syncs == (4, 3)


def test_rows_without_response_id_get_a_stable_id_and_tool_column_names_are_understood(tmp_path, warehouse):
    # column names as a survey tool may write them (Delighted's API names `id`, `created_at`, `comment`)
    header = ["Created At", "Person Email", "Score", "Comment", "Properties"]
    write_csv(tmp_path / "delighted.csv", [["2026-05-01T10:00:00Z", "a@example.com", "8", "", "x"]], header=header)
    stats = import_nps_files(warehouse, tmp_path)
    assert stats.ignored_columns == {"delighted.csv": ["Properties"]}
    (first_id,) = landed(warehouse)
    assert first_id.startswith("derived:")
    # the same answer re-exported with a corrected score keeps its id and replaces it
    write_csv(tmp_path / "delighted.csv", [["2026-05-01T10:00:00Z", "A@example.com", "9", "", "x"]], header=header)
    stats = import_nps_files(warehouse, tmp_path)
    assert (stats.new, stats.updated) == (0, 1)
    assert list(landed(warehouse)) == [first_id] and landed(warehouse)[first_id]["score"] == 9


def test_the_asset_lands_the_folder_and_reports_files_and_counts(tmp_path, monkeypatch):
    from orchestration.assets.nps_import import nps_responses
    from orchestration.resources import WarehouseResource

    folder = tmp_path / "imports"
    folder.mkdir()
    write_csv(folder / "good.csv", [["1", "2026-05-01T10:00:00Z", "a@example.com", "", "9", "", ""],
                                    ["2", "2026-05-01T10:00:00Z", "a@example.com", "", "99", "", ""]],
              delimiter=";", bom=True)
    write_csv(folder / "bad.csv", [["1"]], header=["nothing"])
    monkeypatch.setenv("C360_NPS_IMPORT_DIR", str(folder))
    warehouse = tmp_path / "w.duckdb"
    result = dg.materialize([nps_responses], resources={"warehouse": WarehouseResource(database=str(warehouse))})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["files"].value == ["bad.csv", "good.csv"]
    assert metadata["files_rejected"].value == 1 and "bad.csv" in metadata["rejected_files"].value
    assert metadata["rows_per_file"].value == {"good.csv": 2}
    assert (metadata["records_new"].value, metadata["records_quarantined"].value) == (1, 1)
    assert metadata["quarantine_reasons"].value == {"score is not an integer 0-10": 1}
    assert metadata["dagster/row_count"].value == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select id from raw.nps_responses").fetchall() == [("1",)]


def test_with_a_raw_zone_the_landed_rows_also_go_there_and_readers_get_the_table(tmp_path, warehouse):
    """The Spark engine reads the NPS answers from the raw zone: what the zone's latest rows hold must be
    what `raw.nps_responses` holds, file name included, after a correction as well."""
    from c360.raw_zone import RawZone, latest_records

    exports, zone = tmp_path / "exports", RawZone(str(tmp_path / "zone"))
    exports.mkdir()
    write_csv(exports / "2026-05.csv", [["1", "2026-05-01T10:00:00Z", "a@example.com", "", "9", "gut", "NPS"],
                                        ["2", "2026-05-02T10:00:00Z", "b@example.com", "", "3", "", "NPS"]])
    import_nps_files(warehouse, exports, raw_zone=zone)
    assert import_nps_files(warehouse, exports, raw_zone=zone).unchanged == 2  # nothing new: no file
    write_csv(exports / "2026-06.csv", [["2", "2026-05-02T10:00:00Z", "b@example.com", "", "6", "doch", "NPS"]])
    import_nps_files(warehouse, exports, raw_zone=zone)

    files = sorted((tmp_path / "zone" / RESOURCE).glob("*.parquet"))
    assert len(files) == 2
    columns = "id, record::varchar, _version, _source_updated_at, _sync_id, _loaded_at, _source_file"
    in_table = warehouse.execute(f"select {columns} from raw.nps_responses order by id").fetchall()
    in_zone = latest_records(warehouse, zone, RESOURCE)
    assert [tuple(row[c] for c in in_zone.column_names if c != "_deleted_at") for row in in_zone.to_pylist()] \
        == [tuple(row) for row in in_table]
    assert json.loads(in_zone.to_pylist()[1]["record"])["score"] == 6
    assert in_zone.to_pylist()[1]["_source_file"] == "2026-06.csv"
