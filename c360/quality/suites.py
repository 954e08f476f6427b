"""Quality suites as data: `c360/quality/suites/*.yml`, one list of suites per layer (raw, staging, golden, kpis).

A suite names the asset it gates (`asset: [schema, table]`), the SQL that reads the rows to validate
from the warehouse (`query`), the columns that identify a failing row in the examples (`id_columns`),
and its expectations: a great_expectations 1.x expectation type in snake case plus its arguments,
and `why` (shown in the UI and the Data Docs page). A suite over landed data names the column of its
query that tells when a row arrived (`arrival_column`) and then validates the rows arrived since it
last passed (c360/quality/scope.py). An expectation may say `severity: warn`: its failure is reported
(check metadata, log, Data Docs) but does not fail the gate; the default, `error`, fails it. Open sets
(states, channels, types a vendor adds values to over time) warn; malformed or missing values block.
Example:

    - name: raw_shop_customers
      asset: [raw, shop_customers]
      query: select id, _loaded_at, record->>'email' as email from raw.shop_customers
      id_columns: [id]
      arrival_column: _loaded_at
      expectations:
        - type: expect_column_values_to_match_regex
          column: email
          regex: '^[^@\\s]+@[^@\\s]+\\.[A-Za-z]{2,}$'
          mostly: 0.95
          why: e-mail addresses have a valid format where present
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from c360 import settings

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SEVERITIES = ("error", "warn")


@dataclass(frozen=True)
class Expectation:
    type: str  # GX expectation type, e.g. "expect_column_values_to_not_be_null"
    kwargs: dict[str, Any]  # its arguments (column, value_set, min_value, mostly, ...)
    why: str = ""
    severity: str = "error"  # "error": a failure fails the gate; "warn": it is reported only

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def resolved(self) -> dict[str, Any]:
        """The arguments with settings read now: `{env: NAME, default: X}` is $NAME (as X's type), else X."""
        return {name: _setting(value) for name, value in self.kwargs.items()}

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def label(self) -> str:
        """A short readable name: `expect_column_values_to_not_be_null(email)`."""
        target = self.kwargs.get("column") or ",".join(self.kwargs.get("column_list", []))
        return f"{self.type}({target})" if target else self.type


@dataclass(frozen=True)
class Suite:
    name: str
    asset: tuple[str, ...]  # the asset key the suite gates
    query: str  # SQL run on the warehouse; its result is the DataFrame validated
    expectations: tuple[Expectation, ...]
    id_columns: tuple[str, ...] = ()
    description: str = ""
    additional_deps: tuple[tuple[str, ...], ...] = field(default=())
    layer: str = ""  # raw | staging | golden | kpis (the file it comes from)
    requires: tuple[str, ...] = ()  # tables that must exist for the suite to apply (else it is skipped)
    # Small summary queries (one row per table): the check shows every validated row in the UI.
    show_rows: bool = False
    # A column of the query telling when a row arrived: the suite then validates the rows arrived
    # since it last passed (c360/quality/scope.py). None: the whole table each time.
    arrival_column: str | None = None


def _setting(value: Any) -> Any:
    """An expectation argument that operators set through the environment, e.g. a threshold."""
    if not (isinstance(value, dict) and "env" in value and set(value) <= {"env", "default"}):
        return value
    default = value.get("default")
    text = settings.suite_setting(value["env"])
    if not text:
        return default
    try:
        return type(default)(text) if default is not None else text
    except ValueError:
        raise ValueError(f"{value['env']} is {text!r}; expected a {type(default).__name__} like {default!r}") from None


def _parse(entry: dict, layer: str) -> Suite:
    expectations = []
    for raw in entry["expectations"]:
        raw = dict(raw)
        kind = raw.pop("type")
        why = raw.pop("why", "")
        severity = raw.pop("severity", "error")
        if severity not in SEVERITIES:
            raise ValueError(f"suite {entry.get('name')!r}: {kind} has severity {severity!r}; use one of {SEVERITIES}")
        expectations.append(Expectation(type=kind, kwargs=raw, why=why, severity=severity))
    return Suite(
        name=entry["name"],
        asset=tuple(entry["asset"]),
        query=entry["query"].strip(),
        expectations=tuple(expectations),
        id_columns=tuple(entry.get("id_columns", ())),
        description=entry.get("description", "").strip(),
        additional_deps=tuple(tuple(dep) for dep in entry.get("additional_deps", ())),
        layer=layer,
        requires=tuple(entry.get("requires", ())),
        arrival_column=entry.get("arrival_column"),
        show_rows=bool(entry.get("show_rows", False)),
    )


@cache
def load_suites(directory: Path = SUITES_DIR) -> tuple[Suite, ...]:
    suites = []
    for path in sorted(Path(directory).glob("*.yml")):
        for entry in yaml.safe_load(path.read_text()) or []:
            suites.append(_parse(entry, layer=path.stem))
    names = [s.name for s in suites]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate suite names in {directory}: {sorted(duplicates)}")
    return tuple(suites)


def get_suite(name: str) -> Suite:
    for suite in load_suites():
        if suite.name == name:
            return suite
    raise KeyError(f"no quality suite named {name!r} (have: {[s.name for s in load_suites()]})")


def suite_from_dict(entry: dict, layer: str = "") -> Suite:
    """A suite from a dict in the YAML layout (for tests and ad-hoc checks)."""
    return _parse(entry, layer)
