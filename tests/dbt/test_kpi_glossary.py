"""The KPI glossary (dbt docs block `kpi_glossary`) names every KPI column of the KPI marts, and the KPI models'
descriptions include it: a column added to kpi_daily, kpi_monthly, kpi_daily_booked, kpi_monthly_booked or customer_kpis without a glossary entry
(German term, formula, unit) fails here. Reads the project files only (no warehouse)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
GLOSSARY = DBT_DIR / "models" / "docs" / "glossary.md"
KPI_MODELS = ("kpi_daily", "kpi_monthly", "kpi_daily_booked", "kpi_monthly_booked", "customer_kpis")
# keys, dates and attributes of a row, not figures
NOT_KPIS = {"period_start", "period_end", "golden_customer_id", "as_of_date", "birthday", "email_marketing_consent",
            "email_marketing_consent_state", "first_order_date", "last_order_date", "last_ticket_date",
            "last_csat_date", "last_nps_date"}


def model_columns(name: str) -> list[str]:
    (model,) = yaml.safe_load((DBT_DIR / "models" / "marts" / "kpis" / f"{name}.yml").read_text())["models"]
    return [column["name"] for column in model["columns"]]


def glossary_rows() -> list[tuple[str, str, str, str]]:
    """(German term, columns, formula, unit) of every table row of the glossary block."""
    text = GLOSSARY.read_text()
    block = text[text.index("{% docs kpi_glossary %}"):text.index("{% enddocs %}")]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    return [tuple(row) for row in rows[1:]]


def named(column: str, patterns: list[str]) -> bool:
    """The column is a glossary name, or fits one with a placeholder (`payment_share_<method>`)."""
    return any(re.fullmatch(re.sub(r"<[a-z]+>", "[a-z_]+", re.escape(p)), column) for p in patterns)


def test_every_glossary_row_has_a_term_a_column_a_formula_and_a_unit():
    rows = glossary_rows()
    assert len(rows) > 40
    for row in rows:
        assert len(row) == 4 and all(row), row
        assert re.search(r"`[a-z_<>0-9]+`", row[1]), row


def test_every_kpi_column_of_the_kpi_marts_is_in_the_glossary():
    patterns = [name for _, columns, _, _ in glossary_rows() for name in re.findall(r"`([a-z_<>0-9]+)`", columns)]
    missing = {name: [c for c in model_columns(name) if c not in NOT_KPIS and not named(c, patterns)]
               for name in KPI_MODELS}
    assert not any(missing.values()), missing
    # the terms the controller asked for by name
    terms = " ".join(row[0] for row in glossary_rows())
    for term in ("AOV", "Nettowert je Bestellung", "Deckungsbeitrag I", "Deckungsbeitrag II", "CLV", "Bindungsrate",
                 "NPS", "CSAT", "Retourenquote", "Zahlungsdauer", "Warenkorbabbruchrate"):
        assert term in terms, term


def test_the_company_kpi_models_include_the_glossary_in_their_description():
    for path in (DBT_DIR / "models" / "marts" / "kpis").glob("kpi_*.yml"):
        (model,) = yaml.safe_load(path.read_text())["models"]
        assert "doc('kpi_glossary')" in model["description"], path.name
