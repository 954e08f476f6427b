"""The raw zone: every landed batch as a Parquet file, for the engines that read files (Spark).

With `C360_ENGINE=spark` (or `C360_RAW_ZONE` set) the landing writes the records of each batch that are
new or changed, the same rows it upserts into `raw.<table>` (and those found deleted before that the
source serves again), to

    <raw zone>/<system>/<resource>/<sync id>-<batch number>.parquet

and the records that the reconciliation of the shop's ids finds deleted, with their `_deleted_at`, to
`reconciled-<moment>.parquet` beside them. The NPS import (`c360.nps_import`) writes the answers it
lands new or changed to `nps/responses/<sync id>.parquet`, with the file each came from.

The zone is a local folder or a URL that pyarrow's file systems open (`s3://bucket/raw`, `gs://...`,
`abfs://...`, `hdfs://...`); Parquet needs no jar from outside the package registries, so Spark reads it
out of the box.

Guarantees, the landing's own: a batch's file is complete before the batch's transaction (with its
watermark) commits. A local file is written under a hidden name and renamed (Spark and DuckDB skip
names starting with `.`), an object store's PUT is whole or absent. A crash between the file and the
commit leaves a file whose records the next run lands again: the zone may hold a version twice, never
miss one. Readers therefore take the latest version per id, of equal versions the one loaded last
(`LATEST_PER_ID`, the same rule as the landing's upsert).

The landing's ledger (ids, versions, watermarks, quarantine, sync log) stays in its DuckDB file: the
zone holds the records for the engine, the ledger what the next landing resumes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from c360 import settings

# The columns of a zone file: a raw table's, the record as JSON text; `ZONE_SELECT` reads them from one.
ZONE_COLUMNS = ("id", "record", "_version", "_source_updated_at", "_sync_id", "_loaded_at", "_deleted_at")
ZONE_SELECT = "id, record::varchar as record, _version, _source_updated_at, _sync_id, _loaded_at, _deleted_at"
# A file import's rows (`c360.nps_import`) carry the file they came from.
FILE_IMPORT_COLUMNS = (*ZONE_COLUMNS, "_source_file")
# Of the rows of one id, the one readers keep (window clause shared by the DuckDB and Spark readers).
LATEST_PER_ID = "partition by id order by _version desc, _loaded_at desc, _sync_id desc"


@dataclass(frozen=True)
class RawZone:
    """Where the landed batches go as Parquet files: a folder or a file-system URL."""

    root: str

    def __post_init__(self) -> None:
        if not self.root.strip():
            raise ValueError("the raw zone needs a folder or a URL (C360_RAW_ZONE)")

    def _file_system(self) -> tuple[pafs.FileSystem, str, bool]:
        """(file system, root path on it, whether it is local)."""
        if "://" not in self.root:
            return pafs.LocalFileSystem(), str(Path(self.root).resolve()), True
        fs, path = pafs.FileSystem.from_uri(self.root)
        return fs, path.rstrip("/"), isinstance(fs, pafs.LocalFileSystem)

    def resource_uri(self, key: str) -> str:
        """The folder (or prefix) of one resource, `system/resource` (`shop/orders`), as readers open it."""
        base = self.root.rstrip("/") if "://" in self.root else str(Path(self.root).resolve())
        return f"{base}/{key}"

    def write_batch(self, con: duckdb.DuckDBPyConnection, query: str, params: list, key: str, name: str,
                    columns: tuple[str, ...] = ZONE_COLUMNS) -> int:
        """Write the rows `query` selects (`columns`, in order: the `ZONE_COLUMNS`, and the file a row came
        from for a file import) as the file `<name>.parquet` of `key`; returns how many. Nothing is
        written for an empty batch."""
        table = con.sql(query, params=params).to_arrow_table().rename_columns(columns)
        if not table.num_rows:
            return 0
        fs, root, local = self._file_system()
        folder = f"{root}/{key}"
        name = f"{name}.parquet"
        fs.create_dir(folder, recursive=True)
        if local:
            hidden = f"{folder}/.{name}.inprogress"
            pq.write_table(table, hidden, filesystem=fs, compression="zstd")
            fs.move(hidden, f"{folder}/{name}")
        else:
            pq.write_table(table, f"{folder}/{name}", filesystem=fs, compression="zstd")
        return table.num_rows

    def files(self, key: str) -> list[str]:
        """The Parquet files of `key` (paths on the zone's file system), without those being written."""
        fs, root, _ = self._file_system()
        infos = fs.get_file_info(pafs.FileSelector(f"{root}/{key}", allow_not_found=True))
        return sorted(info.path for info in infos if info.is_file and info.base_name.endswith(".parquet")
                      and not info.base_name.startswith("."))

    def rewrite(self, con: duckdb.DuckDBPyConnection, path: str, where: str, params: list,
                changed: str | None = None) -> int:
        """The rows of the file at `path` that `where` matches (SQL over its columns; `params` for its `?`)
        dropped, or with `changed` (a select list over the columns; its `?` take `params` too) written changed.
        The file is replaced whole, under a hidden name and renamed on a local disk (one PUT on object
        storage), and only if a row matched. Returns the rows matched."""
        fs, _, local = self._file_system()
        rows = pq.read_table(path, filesystem=fs)  # noqa: F841 - read by DuckDB by its name
        [(matched,)] = con.execute(f"select count(*) from rows where {where}", params).fetchall()
        if not matched:
            return 0
        kept = (f"select {changed} from rows" if changed is not None
                else f"select * from rows where not coalesce({where}, false)")
        table = con.sql(kept, params=params if "?" in kept else []).to_arrow_table()
        folder, name = path.rsplit("/", 1)
        target = f"{folder}/.{name}.inprogress" if local else path
        pq.write_table(table, target, filesystem=fs, compression="zstd")
        if local:
            fs.move(target, path)
        return matched


def configured_raw_zone() -> RawZone | None:
    """The raw zone the settings name (`C360_RAW_ZONE`, the Spark engine's default), or None without one."""
    root = settings.raw_zone_root()
    return RawZone(root) if root else None


def latest_records(con: duckdb.DuckDBPyConnection, zone: RawZone, key: str) -> pa.Table:
    """The zone's latest version of every record of `key` (deleted ones included, with their
    `_deleted_at`), read by DuckDB (local zones)."""
    files = f"{zone.resource_uri(key)}/*.parquet"
    return con.sql(
        f"select * exclude (_rank) from (select *, row_number() over ({LATEST_PER_ID}) as _rank "
        f"from read_parquet(?)) where _rank = 1 order by id",
        params=[files],
    ).to_arrow_table()
