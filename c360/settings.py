"""Every setting the pipeline reads from the environment, with the defaults the demo runs on.

One place for names and defaults, so that the demo sources, the connectors' Dagster resources and the
CLI agree without repeating them: no other module of the pipeline reads the environment
(tests/test_layout.py), and every variable named here has a row in the README's configuration table.
The functions read the environment when called, never at import.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DEMO_SOURCES_HOST = "127.0.0.1"
DEMO_SOURCES_PORT = 8765
SYSTEMS = ("shop", "erp", "helpdesk", "accounting")
# Sources landed from files rather than an API (each its own asset group beside the systems').
FILE_SOURCES = ("nps",)
LANDING_GROUPS = (*SYSTEMS, *FILE_SOURCES)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class SourceCredentials:
    """API credentials of the four systems. repr() never shows a secret."""

    shop_token: str
    erp_api_key: str
    helpdesk_email: str
    helpdesk_token: str
    accounting_api_key: str

    @classmethod
    def from_env(cls) -> "SourceCredentials":
        return cls(
            shop_token=_env("SHOP_API_TOKEN", "demo-shop-token"),
            erp_api_key=_env("ERP_API_KEY", "demo-erp-key"),
            helpdesk_email=_env("HELPDESK_EMAIL", "agent@example.com"),
            helpdesk_token=_env("HELPDESK_API_TOKEN", "demo-helpdesk-token"),
            accounting_api_key=_env("ACCOUNTING_API_KEY", "demo-accounting-key"),
        )

    def __repr__(self) -> str:
        return "SourceCredentials(<redacted>)"


def demo_source_url(system: str, host: str = DEMO_SOURCES_HOST, port: int = DEMO_SOURCES_PORT) -> str:
    return f"http://{host}:{port}/{system}"


def source_url(system: str) -> str:
    """Base URL of one system: `<SYSTEM>_API_URL`, by default the demo sources on localhost."""
    return _env(f"{system.upper()}_API_URL", demo_source_url(system))


# Shopify releases an Admin API version each quarter and supports each for at least twelve months
# (docs/source_protocol.md A1); set a newer one when the shop's app is moved forward.
DEFAULT_SHOP_API_VERSION = "2026-10"
_SHOP_API_VERSION_RE = re.compile(r"\d{4}-(01|04|07|10)|unstable")


def shop_api_version() -> str:
    """`C360_SHOP_API_VERSION`: the Shopify GraphQL Admin API version the shop connector asks for."""
    version = _env("C360_SHOP_API_VERSION", DEFAULT_SHOP_API_VERSION)
    if not _SHOP_API_VERSION_RE.fullmatch(version):
        raise ValueError(f"C360_SHOP_API_VERSION is {version!r}; use a quarterly version such as {DEFAULT_SHOP_API_VERSION}")
    return version


# A first sync, or a catch-up after a long pause, reads everything changed since through one bulk
# operation (a JSONL export Shopify prepares itself) instead of thousands of cost-throttled pages; a
# daily increment stays paginated (docs/source_protocol.md A1, bulk operations).
DEFAULT_SHOP_BULK_AFTER_DAYS = 30.0
# Shopify deletes customers and orders outright and offers no deletion feed for them: the landed ids
# are reconciled with the shop's id list this often (docs/source_protocol.md A1, deletions).
DEFAULT_SHOP_RECONCILE_DAYS = 7.0


def _days_or_off(name: str, default: float) -> float | None:
    raw = _env(name, "")
    if raw.lower() in ("off", "never", "none"):
        return None
    try:
        days = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} is {raw!r}; use a number of days (e.g. {default:g}) or 'off'") from None
    if days < 0:
        raise ValueError(f"{name} is {raw!r}; use 0 or more days, or 'off'")
    return days


def shop_bulk_after_days() -> float | None:
    """`C360_SHOP_BULK_AFTER_DAYS`: a shop sync without a watermark, or whose watermark is more than this
    many days old, runs a bulk operation; `off`: always paginate."""
    return _days_or_off("C360_SHOP_BULK_AFTER_DAYS", DEFAULT_SHOP_BULK_AFTER_DAYS)


def shop_reconcile_days() -> float | None:
    """`C360_SHOP_RECONCILE_DAYS`: the landed shop customers and orders are reconciled with the shop's
    ids when the last reconciliation is this many days old (0: every sync); `off`: never."""
    return _days_or_off("C360_SHOP_RECONCILE_DAYS", DEFAULT_SHOP_RECONCILE_DAYS)


# --- ERP (Odoo) -------------------------------------------------------------------------------
ERP_PROTOCOLS = ("json2", "xmlrpc")
# The custom field the demo ERP's partners keep (a real Odoo has no birthday: docs/source_protocol.md A2).
# Returns come from the standard customer credit notes; the demo's order lines also keep a custom
# returned quantity (`x_qty_returned`), read only when C360_ERP_RETURNED_QTY_FIELD names it.
DEMO_ERP_CUSTOM_FIELDS = {"C360_ERP_BIRTHDAY_FIELD": "x_birthdate"}


@dataclass(frozen=True)
class ErpOptions:
    """How the ERP connector talks to Odoo: the protocol by version (`json2` for Odoo 19+, `xmlrpc` for
    16-18), the database (`X-Odoo-Database` / the XML-RPC `db` argument), the login XML-RPC
    authenticates with, and the names of the custom fields read besides the standard ones ("": none)."""

    protocol: str = "json2"
    database: str = ""
    login: str = ""
    birthday_field: str = ""
    returned_qty_field: str = ""

    @classmethod
    def from_env(cls) -> "ErpOptions":
        protocol = _env("C360_ERP_PROTOCOL", "json2").lower()
        if protocol not in ERP_PROTOCOLS:
            raise ValueError(f"C360_ERP_PROTOCOL is {protocol!r}; use 'json2' (Odoo 19+) or 'xmlrpc' (Odoo 16-18)")
        return cls(protocol=protocol, database=_env("C360_ERP_DATABASE", ""), login=_env("ERP_LOGIN", ""),
                   birthday_field=_env("C360_ERP_BIRTHDAY_FIELD", ""),
                   returned_qty_field=_env("C360_ERP_RETURNED_QTY_FIELD", ""))


def use_demo_erp_custom_fields() -> None:
    """Read the demo ERP's custom birthday field, unless configured otherwise."""
    for name, value in DEMO_ERP_CUSTOM_FIELDS.items():
        os.environ.setdefault(name, value)


DEFAULT_WAREHOUSE = "warehouse/c360.duckdb"


def warehouse_path() -> Path:
    return Path(_env("C360_WAREHOUSE", DEFAULT_WAREHOUSE))


def use_warehouse_relative_to(root: Path) -> None:
    """A relative `C360_WAREHOUSE` (the default is one) made absolute against `root`, for this process
    and its children. dbt runs in the dbt project's folder and its profile reads a relative path against
    the project's root (`dbt_project/profiles.yml`); the Spark runner started there (`c360.spark_dbt`)
    must mean the same file, and the metastore and raw zone beside it."""
    path = warehouse_path()
    if not path.is_absolute():
        os.environ["C360_WAREHOUSE"] = str((root / path).resolve())


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """`C360_ENGINE`: the engine the transformations run on, `duckdb` (embedded, the default) or `spark`."""
    value = _env("C360_ENGINE", "duckdb").lower()
    if value not in ENGINES:
        raise ValueError(f"C360_ENGINE is {value!r}; use one of {', '.join(ENGINES)}")
    return value


def raw_zone_root() -> str | None:
    """Where landed batches go as Parquet files (`c360.raw_zone`): `C360_RAW_ZONE` (a folder or a
    file-system URL such as `s3://bucket/raw`), with the Spark engine by default `raw_zone/` beside the
    warehouse file; None (no zone) with DuckDB unless it is set, or when it is `off`."""
    configured = _env("C360_RAW_ZONE", "")
    if configured.lower() == "off":
        return None
    if configured:
        return configured
    return str(warehouse_path().parent / "raw_zone") if engine() == "spark" else None


def spark_master() -> str:
    """`C360_SPARK_MASTER`: the master of a SparkSession started by the pipeline, `local[*]` by default
    (every core of this machine); `spark://host:7077`, `yarn` or `k8s://...` for a cluster."""
    return _env("C360_SPARK_MASTER", "local[*]")


def spark_driver_memory() -> str:
    """`C360_SPARK_DRIVER_MEMORY`: the heap of the Spark driver the pipeline starts (in local mode the
    whole engine's), `4g` by default (Spark's own is 1g). Set before the session starts; a Spark
    Connect server has its own."""
    return _env("C360_SPARK_DRIVER_MEMORY", "4g")


def pyspark_python() -> str:
    """`PYSPARK_PYTHON` (pyspark's own): the Python of Spark's Python workers in local mode; by default
    the pipeline's own interpreter, which has the project installed (pyspark's default, `python3` from
    PATH, lacks it where the venv is not activated). A cluster's executors keep their own setting."""
    return _env("PYSPARK_PYTHON", "") or sys.executable


def spark_remote() -> str | None:
    """`C360_SPARK_REMOTE`: a Spark Connect server (`sc://host:15002`) to use instead of starting a
    session in this process; unset: none."""
    return _env("C360_SPARK_REMOTE", "") or None


def java_home() -> str | None:
    """`JAVA_HOME`, as Spark reads it to start its JVM (else `java` on the PATH)."""
    return _env("JAVA_HOME", "") or None


def as_of_date(override: str = "") -> date:
    """The date a run computes as of (KPIs, identity merges, model ages): `override` (a run's config),
    else `C360_AS_OF` (replays of past data), else today (UTC)."""
    value = override.strip() or _env("C360_AS_OF", "")
    return date.fromisoformat(value) if value else datetime.now(UTC).date()


def http_timeout_seconds() -> float:
    return float(_env("C360_HTTP_TIMEOUT", "30"))


def http_max_retries() -> int:
    return int(_env("C360_HTTP_MAX_RETRIES", "8"))


# Lexware Office allows 2 requests a second per client (token bucket, 429 beyond): the accounting
# client keeps that pace itself against a real host; against a loopback host (the demo sources) it
# does not pace unless told to. 0 turns the pace off.
DEFAULT_ACCOUNTING_MAX_RPS = 2.0


def accounting_max_rps(base_url: str) -> float:
    """Requests a second the accounting client sends at most (`C360_ACCOUNTING_MAX_RPS`); 0 = no pace."""
    raw = _env("C360_ACCOUNTING_MAX_RPS", "").strip()
    if raw:
        value = float(raw)
        if value < 0:
            raise ValueError(f"C360_ACCOUNTING_MAX_RPS must be >= 0, got {raw!r}")
        return value
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or "").lower()
    return 0.0 if host in ("localhost", "127.0.0.1", "::1") else DEFAULT_ACCOUNTING_MAX_RPS


def http_ca_bundle() -> str | None:
    """The CA bundle HTTPS requests verify against (`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`, as
    requests reads them), or None for requests' own."""
    return _env("REQUESTS_CA_BUNDLE", "") or _env("CURL_CA_BUNDLE", "") or None


def http_proxies(url: str) -> dict[str, str]:
    """The proxies for `url` from `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (as requests
    reads them)."""
    import requests.utils

    return requests.utils.get_environ_proxies(url)


# How far a change marker may lie ahead of the pipeline's clock before the record counts as
# future-dated. The sources' clocks agree with ours within seconds (NTP; a self-hosted ERP without it
# drifts by minutes), while a time-zone mistake, the commonest bad marker, is at least an hour off:
# 15 minutes warns about every such mistake and never about drift. Watermarks do not depend on it:
# they never pass the clock itself (see connectors.base.last_valid).
DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=15)
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def future_tolerance() -> timedelta:
    """`C360_FUTURE_TOLERANCE`: seconds (`900`) or a duration (`90s`, `15m`, `1h`, `2d`)."""
    raw = _env("C360_FUTURE_TOLERANCE", "")
    if not raw:
        return DEFAULT_FUTURE_TOLERANCE
    match = _DURATION_RE.fullmatch(raw.lower())
    if not match:
        raise ValueError(f"C360_FUTURE_TOLERANCE is {raw!r}; use seconds (900) or a duration such as 15m, 1h or 2d")
    return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])


# DuckDB's row group: a transaction inserting a whole one writes it compressed straight into the
# file, without passing it through the write-ahead log first (half the write cost of smaller batches).
DEFAULT_LANDING_BATCH = 122_880


def landing_batch_records() -> int:
    return int(_env("C360_LANDING_BATCH", str(DEFAULT_LANDING_BATCH)))


def quality_scope() -> str:
    """`changed`: gates over landed data validate the rows arrived since they last passed; `all`: every row."""
    scope = _env("C360_QUALITY_SCOPE", "changed")
    if scope not in ("changed", "all"):
        raise ValueError(f"C360_QUALITY_SCOPE is {scope!r}; use 'changed' (the default) or 'all'")
    return scope


# The CLV models describe how a customer base buys, which moves slowly: a fit took 20 s of a daily
# run at 1M persons; at 100k persons the CLV step took 5.4-7.0 s with a fit and 1.0 s predicting with
# stored parameters. So the daily run refits once a week, or sooner when the base grew by more than a
# tenth since the last fit.
DEFAULT_CLV_REFIT_DAYS = 7
DEFAULT_CLV_REFIT_GROWTH = 0.10


def clv_refit_days() -> int:
    """`C360_CLV_REFIT_DAYS`: the CLV models are refitted when the stored fit is this many days older
    than the as-of date (0: every run)."""
    days = int(_env("C360_CLV_REFIT_DAYS", str(DEFAULT_CLV_REFIT_DAYS)))
    if days < 0:
        raise ValueError(f"C360_CLV_REFIT_DAYS is {days}; use 0 (refit every run) or more days")
    return days


def clv_refit_growth() -> float:
    """`C360_CLV_REFIT_GROWTH`: the CLV models are refitted when the customers with orders grew by more
    than this share (0.10 = 10 %) since the stored fit."""
    growth = float(_env("C360_CLV_REFIT_GROWTH", str(DEFAULT_CLV_REFIT_GROWTH)))
    if growth < 0:
        raise ValueError(f"C360_CLV_REFIT_GROWTH is {growth}; use a share such as 0.10 (10 %)")
    return growth


def bi_warehouse_path() -> Path:
    """The read-only copy of the marts and segments that BI tools read (never the live warehouse)."""
    return Path(_env("C360_BI_WAREHOUSE", str(warehouse_path().parent / "bi.duckdb")))


def bi_parquet_dir() -> Path:
    """Where the Parquet snapshots go: one folder per snapshot and the pointers `current` and `CURRENT`."""
    return Path(_env("C360_BI_PARQUET_DIR", str(bi_warehouse_path().parent / "bi")))


DEFAULT_BI_KEEP_SNAPSHOTS = 3


def bi_keep_snapshots() -> int:
    """How many Parquet snapshots stay on disk, each a copy of the marts. Two or more let a reader that
    resolved the previous snapshot just before a switch finish reading it; with 1 it may lose its files."""
    keep = int(_env("C360_BI_KEEP_SNAPSHOTS", str(DEFAULT_BI_KEEP_SNAPSHOTS)))
    if keep < 1:
        raise ValueError(f"C360_BI_KEEP_SNAPSHOTS is {keep}; the current snapshot must stay, so at least 1")
    return keep


BI_PII_MODES = ("full", "pseudonymised", "none")


def bi_pii_mode() -> str:
    """`C360_BI_PII`: what the BI snapshot carries of the personal columns (`c360.bi_pii`). The default
    keeps clear names, e-mails and phones away from every BI reader."""
    mode = _env("C360_BI_PII", "pseudonymised").lower()
    if mode not in BI_PII_MODES:
        raise ValueError(f"C360_BI_PII is {mode!r}; use one of {', '.join(BI_PII_MODES)}")
    return mode


def bi_pii_key() -> str | None:
    """`C360_BI_PII_KEY`: the secret the BI pseudonyms are keyed with; None when unset (a key is then
    generated once and kept in `bi_pii_key_file()`). Never log it."""
    return os.environ.get("C360_BI_PII_KEY", "").strip() or None


def bi_pii_key_file() -> Path:
    """Where a generated pseudonym key is kept: beside the live warehouse, not beside the BI copies."""
    return warehouse_path().parent / "bi_pii.key"


def nps_import_dir() -> Path:
    """`C360_NPS_IMPORT_DIR`: the folder whose `*.csv` files (survey-tool exports of NPS answers, format in
    `c360.nps_import`) the pipeline lands, by default `imports/nps/` beside the warehouse file."""
    return Path(_env("C360_NPS_IMPORT_DIR", str(warehouse_path().parent / "imports" / "nps")))


def quality_dir() -> Path:
    """`C360_QUALITY_DIR`: where the validation results go, by default `quality/` beside the warehouse file."""
    return Path(_env("C360_QUALITY_DIR", str(warehouse_path().parent / "quality")))


DEFAULT_PRIVACY_RETENTION_DAYS = 1095


def privacy_retention_days() -> int | None:
    """`C360_PRIVACY_RETENTION_DAYS`: customers without any activity for longer are erased by the daily
    run (`c360.retention`); `off` (or 0) keeps everyone."""
    value = _env("C360_PRIVACY_RETENTION_DAYS", str(DEFAULT_PRIVACY_RETENTION_DAYS)).lower()
    if value in ("off", "0"):
        return None
    days = int(value)
    if days < 0:
        raise ValueError(f"C360_PRIVACY_RETENTION_DAYS is {days}; give a number of days, or off")
    return days


def privacy_salt() -> str | None:
    """`C360_PRIVACY_SALT`: the secret mixed into the hashes of erased ids (audit and suppression list);
    unset, one is generated and kept beside the warehouse file (`c360.erasure.privacy_salt`)."""
    return os.environ.get("C360_PRIVACY_SALT", "").strip() or None


def files_of_warehouse(warehouse: Path) -> tuple[Path, Path, Path]:
    """(BI DuckDB file, BI Parquet folder, validation results folder) of the warehouse file `warehouse`:
    the settings where set, else their defaults beside that file (for a command given `--warehouse`)."""
    bi = Path(_env("C360_BI_WAREHOUSE", str(warehouse.parent / "bi.duckdb")))
    parquet = Path(_env("C360_BI_PARQUET_DIR", str(bi.parent / "bi")))
    return bi, parquet, Path(_env("C360_QUALITY_DIR", str(warehouse.parent / "quality")))


def suite_setting(name: str) -> str:
    """The value of an expectation argument that a quality suite names by its environment variable
    (`{env: NAME, default: ...}` in c360/quality/suites/*.yml); "" when unset."""
    return _env(name, "")


def alert_webhook_url() -> str:
    """`C360_ALERT_WEBHOOK_URL`: the Slack/Teams-compatible webhook failed runs are posted to ("": none).
    A secret: never log it."""
    return _env("C360_ALERT_WEBHOOK_URL", "")


def dagster_home() -> Path | None:
    """`DAGSTER_HOME`: the Dagster instance (run history, pools); None when unset."""
    value = _env("DAGSTER_HOME", "")
    return Path(value) if value else None


def use_dagster_home(default: Path) -> Path:
    """`DAGSTER_HOME`, set to `default` for this process and its children when unset."""
    return Path(os.environ.setdefault("DAGSTER_HOME", str(default)))


def use_demo_sources(port: int, host: str = DEMO_SOURCES_HOST) -> None:
    """Point `<SYSTEM>_API_URL` of this process and its children at demo sources on `port`."""
    for system in SYSTEMS:
        os.environ[f"{system.upper()}_API_URL"] = demo_source_url(system, host, port)
    use_demo_erp_custom_fields()


def environment_with_path(bin_dir: Path) -> dict[str, str]:
    """This process's environment for a child process, with `bin_dir` first on `PATH`."""
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def dbt_target_path() -> str | None:
    """`DBT_TARGET_PATH` (dbt's own): where dbt writes its artefacts; dagster-dbt sets it per invocation."""
    return _env("DBT_TARGET_PATH", "") or None


def default_dbt_indirect_selection() -> None:
    """`DBT_INDIRECT_SELECTION` (dbt's own): `buildable` unless set. The Python identity steps split
    the dbt graph into several steps of one run; a singular test reading models of two steps must
    wait for the later one, and "buildable" runs a test only once all its parents are built or
    upstream of what is being built."""
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")


def identity_memory_limit() -> str:
    """Memory the probabilistic matching and the resolution may hold in DuckDB (DuckDB syntax); beyond it
    the comparisons spill to disk. 3GB keeps 1M persons (2.3M records) under 4 GB of RSS at about 15 %
    more time in matching; the resolution peaked at 3.89 GB with it instead of 4.49 GB, in the same time."""
    return _env("C360_IDENTITY_MEMORY_LIMIT", "3GB")


def identity_retrain_days() -> int:
    """Age in days at which the matching model is trained again; in between, daily runs score only the
    pairs of changed records with the stored model (training is most of the 70.8 s at 1M persons)."""
    return int(_env("C360_IDENTITY_RETRAIN_DAYS", "7"))


def identity_retrain_share() -> float:
    """Share of records new or changed since the training (of those it was trained on) above which
    the matching model is trained again before the age limit, e.g. after a bulk import."""
    return float(_env("C360_IDENTITY_RETRAIN_SHARE", "0.05"))
