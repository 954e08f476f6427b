"""The project's dbt macros outside dbt, as DuckDB SQL: so that Python code folds a value exactly as the
models do (a privacy request's e-mail and name, the identity benchmark's FEBRL rows).

The macros are rendered with plain Jinja and what they need of dbt: the `do` tag (an extension dbt
enables), `var` (the project's vars), `return`, and an `adapter` whose `dispatch` picks the `default__`
form of the cross-database macros (macros/cross_db.sql), which is DuckDB's.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"


class _DuckDBAdapter:
    """`adapter.dispatch(name)` as dbt-duckdb resolves it for this project: `default__<name>`."""

    def __init__(self) -> None:
        self.module: Any = None

    def dispatch(self, name: str):
        return lambda *args, **kwargs: getattr(self.module, f"default__{name}")(*args, **kwargs)


@cache
def project_macros(*files: str):
    """The macros of `files` (names in dbt_project/macros; the cross-database macros always) as a Jinja
    module: `project_macros("fold_name.sql").fold_name("name")` is the SQL the models use."""
    import jinja2
    import yaml

    dbt_vars = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text()).get("vars", {})
    names = ("cross_db.sql", *(name for name in files if name != "cross_db.sql"))
    source = "\n".join((DBT_PROJECT / "macros" / name).read_text() for name in names)
    adapter = _DuckDBAdapter()
    template = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(source, globals={
        "var": lambda name, default=None: dbt_vars.get(name, default),
        "return": lambda value: value,
        "adapter": adapter,
    })
    adapter.module = template.module
    return adapter.module
