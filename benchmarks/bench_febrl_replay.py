"""FEBRL-4 through the real path: a replay directory served over HTTP, the connectors, the whole pipeline.

    python benchmarks/bench_febrl_replay.py [--originals 5000] [--workdir /tmp/c360_febrl_replay]

`bench_identity_generalisation.py` hands FEBRL straight to the matcher as identity input. Here the
same people travel the way a retailer's records do: FEBRL-4's file A becomes Shopify customers and
file B Odoo partners (`write_replay`), served by the demo sources from that replay directory (as
`c360 sources serve --data-dir` serves it), landed by the shop and ERP connectors, staged by dbt
and resolved by the pipeline run in Dagster. The crosswalk is scored against FEBRL's true links
(pairwise precision / recall / F1, `c360.identity.evaluate.pairwise_metrics`), beside the score the
harness gives the same rows fed directly: the difference is what the sources' shapes cost (an Odoo
partner has one `name` field, which staging splits; Shopify keeps a birthday only in a metafield).

The mapping, field by field (FEBRL -> Shopify REST customer / Odoo `res.partner`):
given_name + surname -> `first_name` / `last_name` and Odoo `name` ("given surname"); address_1 +
street_number -> `address1` / `street` (street before number, as the harness writes it); address_2
-> `address2` / `street2`; suburb -> `city`; postcode -> `zip`; country Australia (`AU` /
`[13, "Australia"]`); date_of_birth (YYYYMMDD) -> `birthday` / the ERP's birthday custom field as
YYYY-MM-DD (an impossible date stays impossible: staging nulls it); no e-mail, no phone (FEBRL has
none); `soc_sec_id` left out. Ids: the record's position + 1; truth/identity.csv from the links.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_identity_generalisation as harness  # noqa: E402  (FEBRL loading, truth from links, the direct run)

ERP_COUNTRY_AUSTRALIA = [13, "Australia"]  # Odoo's many2one pair (id, display name) of the country


def _text(value) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def _iso_day(yyyymmdd) -> str | None:
    text = _text(yyyymmdd)
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if text and len(text) == 8 and text.isdigit() else text


def _street(row) -> str | None:
    return " ".join(part for part in (_text(row["address_1"]), _text(row["street_number"])) if part) or None


def shop_customer(record_id: int, row, changed_at: datetime) -> dict:
    """A FEBRL row as a Shopify customer in the REST shape a replay directory holds."""
    stamp = changed_at.isoformat(timespec="seconds")
    return {"id": record_id, "email": None, "first_name": _text(row["given_name"]), "last_name": _text(row["surname"]),
            "phone": None, "state": "enabled", "verified_email": False, "tags": "", "birthday": _iso_day(row["date_of_birth"]),
            "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None},
            "created_at": stamp, "updated_at": stamp,
            "default_address": {"address1": _street(row), "address2": _text(row["address_2"]), "zip": _text(row["postcode"]),
                                "city": _text(row["suburb"]), "country_code": "AU", "company": None}}


def erp_partner(record_id: int, row, changed_at: datetime, birthday_field: str) -> dict:
    """A FEBRL row as an Odoo partner (`false` for an empty value, as Odoo writes it)."""
    name = " ".join(part for part in (_text(row["given_name"]), _text(row["surname"])) if part)
    stamp = changed_at.strftime("%Y-%m-%d %H:%M:%S")
    return {"id": record_id, "name": name or False, "is_company": False, "ref": False, "email": False, "phone": False,
            "mobile": False, "street": _street(row) or False, "street2": _text(row["address_2"]) or False,
            "zip": _text(row["postcode"]) or False, "city": _text(row["suburb"]) or False,
            "country_id": ERP_COUNTRY_AUSTRALIA, "vat": False, birthday_field: _iso_day(row["date_of_birth"]) or False,
            "active": True, "create_date": stamp, "write_date": stamp}


def write_replay(rows: pd.DataFrame, links: list[tuple[str, str]], out_dir: Path, birthday_field: str,
                 changed_at: datetime) -> pd.DataFrame:
    """FEBRL-4 rows (`source_system` febrl4a / febrl4b) as a replay directory: file A as shop customers,
    file B as ERP partners, and truth/identity.csv; returns the truth (source ids of the replay)."""
    system_of = {"febrl4a": ("shop", "shop/customers"), "febrl4b": ("erp", "erp/res.partner")}
    records: dict[str, list[dict]] = {"shop/customers": [], "erp/res.partner": []}
    replay_key = {}  # FEBRL record key -> replay record key
    for position, row in enumerate(rows.to_dict("records"), start=1):
        system, resource = system_of[row["source_system"]]
        record = (shop_customer(position, row, changed_at) if system == "shop"
                  else erp_partner(position, row, changed_at, birthday_field))
        records[resource].append(record)
        replay_key[f"{row['source_system']}:{row['rec_id']}"] = f"{system}:{position}"
    for resource, recs in records.items():
        path = out_dir / f"{resource}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    keys = pd.Series(list(replay_key.values()))
    ids = pd.DataFrame({"source_system": keys.str.split(":").str[0], "source_record_id": keys.str.split(":").str[1]})
    truth = harness.truth_from_links(ids, [(replay_key[a], replay_key[b]) for a, b in links])
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    truth.to_csv(out_dir / "truth" / "identity.csv", index=False, lineterminator="\n")
    return truth


def run_replay(replay_dir: Path, warehouse: Path) -> dict:
    """Serve the replay, land shop customers and ERP partners through the connectors, run the rest of the
    pipeline in Dagster; seconds per phase and whether the run succeeded."""
    import dagster as dg
    import duckdb

    from c360.raw_store import ensure_raw_schema, land_resource
    from c360.settings import SYSTEMS, SourceCredentials
    from connectors import ALL_RESOURCES, build_client
    from demo_sources.replay import load_replay
    from demo_sources.server import SourceServer

    credentials = SourceCredentials.from_env()
    started = time.perf_counter()
    server = SourceServer(load_replay(replay_dir), port=0, credentials=credentials).start()
    try:
        with duckdb.connect(str(warehouse)) as con:
            ensure_raw_schema(con, list(ALL_RESOURCES))
            for spec in ALL_RESOURCES:
                client = build_client(spec.system, server.url(spec.system), credentials)
                try:
                    land_resource(con, client, spec.name)
                finally:
                    client.close()
    finally:
        server.shutdown()
    landed = time.perf_counter() - started
    os.environ.update({"C360_WAREHOUSE": str(warehouse), "C360_BI_WAREHOUSE": str(warehouse.with_name("bi.duckdb")),
                       "C360_BI_PARQUET_DIR": str(warehouse.parent / "bi_parquet"),
                       "C360_NPS_IMPORT_DIR": str(warehouse.parent / "imports" / "nps")})
    from orchestration.definitions import build_definitions
    from c360.settings import LANDING_GROUPS

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups(*LANDING_GROUPS)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=list(selection.resolve(graph)), run_config=quiet,
        raise_on_error=False)
    failed = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"})
    return {"success": result.success, "failed_steps": failed, "landing_seconds": round(landed, 1),
            "pipeline_seconds": round(time.perf_counter() - started - landed, 1)}


def score(warehouse: Path, truth: pd.DataFrame) -> dict:
    import duckdb

    from c360.identity.evaluate import pairwise_metrics

    with duckdb.connect(str(warehouse), read_only=True) as con:
        crosswalk = con.execute("select source_system, source_record_id, golden_customer_id "
                                "from marts.golden_customer_sources").df()
    figures = pairwise_metrics(crosswalk, truth)
    return {k: figures[k] for k in ("precision", "recall", "f1", "true_pairs", "predicted_pairs", "correct_pairs")}


def direct_score(rows: pd.DataFrame, links: list[tuple[str, str]], warehouse: Path) -> dict:
    """The harness's figures on the same rows fed straight to the matcher (no sources, no staging)."""
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        truth = harness.load_febrl(con, rows, links)
        clustering = harness.run_project(con, False)
    figures = harness.evaluate_method(clustering, truth, None)
    return {k: figures[k] for k in ("precision", "recall", "f1")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=5000, help="FEBRL-4 originals (with their copies), at most 5000")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/c360_febrl_replay"))
    args = parser.parse_args()
    import shutil

    from c360.settings import DEMO_ERP_CUSTOM_FIELDS, use_demo_erp_custom_fields

    use_demo_erp_custom_fields()  # the replay's partners keep their birthday where the demo ERP does
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    rows, links = harness.febrl4_slice(args.originals)
    birthday_field = DEMO_ERP_CUSTOM_FIELDS["C360_ERP_BIRTHDAY_FIELD"]
    truth = write_replay(rows, links, args.workdir / "replay", birthday_field,
                         datetime.now(UTC).replace(microsecond=0) - timedelta(days=30))
    report = {"originals": args.originals, "records": len(rows), "true_links": len(links)}
    report["run"] = run_replay(args.workdir / "replay", args.workdir / "c360.duckdb")
    if report["run"]["success"]:
        report["through_the_sources"] = score(args.workdir / "c360.duckdb", truth)
    report["fed_directly"] = direct_score(rows, links, args.workdir / "direct.duckdb")
    print(json.dumps(report, indent=2))
    return 0 if report["run"]["success"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
