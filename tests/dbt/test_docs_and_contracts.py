"""Contracts and docs of the BI-facing dbt models (every model under models/marts and models/segments).

One `dbt docs generate` against a copy of the warehouse the whole pipeline built (session fixture
`pipeline_warehouse`; the live file is never opened). Its manifest says that every BI-facing model
enforces a contract in which every column has a data type and a description; its catalog (what the
warehouse really holds) lists the same columns, in the same order, for every one of those models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = ROOT / "dbt_project"
BI_FOLDERS = ("models/marts/", "models/segments/")


@pytest.fixture(scope="module")
def docs_generated(pipeline_warehouse, tmp_path_factory):
    """(finished `dbt docs generate`, its manifest, its catalog); the JSON documents are None when missing."""
    warehouse, _ = pipeline_warehouse
    base = tmp_path_factory.mktemp("dbt_docs")
    # a copy under the same file name: the catalog of the dbt views is named after the file
    copy = base / "warehouse" / warehouse.name
    copy.parent.mkdir()
    for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
        if path.exists():
            shutil.copy(path, copy.with_name(path.name))
    target = base / "target"
    env = {**os.environ, "C360_WAREHOUSE": str(copy),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["dbt", "docs", "generate", "--profiles-dir", str(DBT_DIR), "--target-path", str(target),
         "--log-path", str(base / "logs")],
        cwd=DBT_DIR, env=env, capture_output=True, text=True,
    )

    def artifact(name: str):
        path = target / name
        return json.loads(path.read_text()) if path.exists() else None

    return result, artifact("manifest.json"), artifact("catalog.json")


def bi_models(manifest: dict) -> dict[str, dict]:
    return {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["original_file_path"].startswith(BI_FOLDERS)
    }


def test_every_bi_facing_model_enforces_a_contract_with_described_typed_columns(docs_generated):
    result, manifest, _ = docs_generated
    assert manifest is not None, f"dbt wrote no manifest:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    models = bi_models(manifest)
    # every model file of the two folders is in the manifest (none slipped out of the selection)
    sql_files = {p.stem for folder in BI_FOLDERS for p in (DBT_DIR / folder).rglob("*.sql")}
    assert {node["name"] for node in models.values()} == sql_files
    assert {"golden_customers", "customer_kpis", "fct_orders", "customer_segments"} <= sql_files

    problems = []
    for node in models.values():
        if not node["contract"]["enforced"]:
            problems.append(f"{node['name']}: contract not enforced")
        if not node["columns"]:
            problems.append(f"{node['name']}: no columns")
        for name, column in node["columns"].items():
            if not (column.get("data_type") or "").strip():
                problems.append(f"{node['name']}.{name}: no data_type")
            description = (column.get("description") or "").strip()
            if not description or "{{" in description:
                problems.append(f"{node['name']}.{name}: description {description!r}")
    assert not problems, "\n".join(problems)


def test_docs_generate_catalogs_every_bi_facing_model_with_the_contracted_columns(docs_generated):
    result, manifest, catalog = docs_generated
    assert result.returncode == 0, f"dbt docs generate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert catalog is not None and not catalog.get("errors"), catalog and catalog.get("errors")
    models = bi_models(manifest)
    assert models
    mismatches = {}
    for unique_id, node in models.items():
        entry = catalog["nodes"].get(unique_id)
        if entry is None:
            mismatches[node["name"]] = "not in the catalog"
            continue
        in_warehouse = [c["name"] for c in sorted(entry["columns"].values(), key=lambda c: c["index"])]
        if in_warehouse != list(node["columns"]):
            mismatches[node["name"]] = {"warehouse": in_warehouse, "contract": list(node["columns"])}
    assert not mismatches, json.dumps(mismatches, indent=1)
