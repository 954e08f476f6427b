"""Keep every validation: the GX result JSON and a Data Docs-style HTML page per suite and run.

Layout: `$C360_QUALITY_DIR/<run_id>/<suite>.json`, `<suite>.html` and an `index.html` of the run.
Default `C360_QUALITY_DIR`: a `quality/` folder beside the warehouse file (`warehouse/quality/`).
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

from c360 import settings
from c360.quality.runner import SuiteResult
from c360.quality.suites import Suite


def quality_root() -> Path:
    return settings.quality_dir()


def run_dir(run_id: str) -> Path:
    return quality_root() / run_id


def _esc(value) -> str:
    return html.escape(str(value))


def _rows_table(rows: list[dict]) -> str:
    if not rows:
        return "<p><em>no example rows</em></p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table class='rows'><tr>{head}</tr>{body}</table>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;font-size:.9em}
.ok{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}.warn{color:#9a6700;font-weight:bold}
tr.failed{background:#fff0f0}code{background:#f4f4f4;padding:0 .2em}
"""


def render_html(result: SuiteResult, suite: Suite, run_id: str) -> str:
    status = "<span class='ok'>PASSED</span>" if result.success else "<span class='fail'>FAILED</span>"
    failures = {f.label: f for f in result.failures}
    warned = {f.label: f for f in result.warnings}
    rows = []
    for expectation in suite.expectations:
        failed = failures.get(expectation.label) or warned.get(expectation.label)
        args = ", ".join(f"{k}={v!r}" for k, v in expectation.resolved().items())
        if failed and not expectation.blocking:
            outcome = f"<span class='warn'>warning</span><br>{_esc(failed.summary())}"
        else:
            outcome = (f"<span class='fail'>failed</span><br>{_esc(failed.summary())}" if failed
                       else "<span class='ok'>passed</span>")
        rows.append(f"<tr class='{'failed' if failed else ''}'><td><code>{_esc(expectation.type)}</code></td>"
                    f"<td>{_esc(args)}</td><td>{_esc(expectation.why)}</td><td>{outcome}</td></tr>")
    examples = "".join(
        f"<h3>{_esc(f.label)}</h3><p>{_esc(f.summary())}</p>{_rows_table(f.examples)}"
        for f in [*result.failures, *result.warnings]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_esc(suite.name)}: {'passed' if result.success else 'FAILED'}</title>
<style>{_STYLE}</style></head><body>
<p><a href="index.html">all validations of run {_esc(run_id)}</a></p>
<h1>{_esc(suite.name)} {status}</h1>
<p>{_esc(suite.description)}</p>
<p>asset <code>{_esc('/'.join(suite.asset))}</code> &middot; {result.rows} rows &middot;
{result.evaluated - len(result.failures)} of {result.evaluated} expectations met &middot; {result.seconds} s
&middot; <a href="{_esc(suite.name)}.json">GX result JSON</a></p>
<h2>Expectations</h2>
<table><tr><th>expectation</th><th>arguments</th><th>why</th><th>result</th></tr>{''.join(rows)}</table>
{'<h2>Failing rows (examples)</h2>' + examples if result.failures or result.warnings else ''}
<h2>Query</h2><pre>{_esc(suite.query)}</pre>
</body></html>
"""


def _write_index(directory: Path, run_id: str) -> Path:
    entries = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summary = data.get("c360", {})
        ok = data.get("success")
        entries.append(
            f"<tr><td><a href='{_esc(path.stem)}.html'>{_esc(path.stem)}</a></td>"
            f"<td>{_esc('/'.join(summary.get('asset', [])))}</td>"
            f"<td class='{'ok' if ok else 'fail'}'>{'passed' if ok else 'FAILED'}</td>"
            f"<td>{_esc(summary.get('rows'))}</td><td>{_esc(', '.join(summary.get('failed', [])))}</td></tr>"
        )
    index = directory / "index.html"
    index.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Quality gates of run {_esc(run_id)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Quality gates of run {_esc(run_id)}</h1>"
        f"<table><tr><th>suite</th><th>asset</th><th>result</th><th>rows</th><th>failed expectations</th></tr>"
        f"{''.join(entries)}</table></body></html>\n"
    )
    return index


def write_validation(result: SuiteResult, suite: Suite, run_id: str, directory: Path | None = None) -> tuple[Path, Path]:
    """Write `<suite>.json` (the GX result plus a summary) and `<suite>.html`; returns both paths."""
    directory = Path(directory) if directory else run_dir(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    payload = dict(result.gx_result)
    payload["success"] = result.success  # GX counts a failed warn-level expectation as a failure too
    payload["c360"] = {
        "suite": suite.name, "asset": list(suite.asset), "run_id": run_id, "rows": result.rows,
        "failed": [f.label for f in result.failures], "seconds": result.seconds,
        "failures": [asdict(f) for f in result.failures],
        "warnings": [asdict(f) for f in result.warnings],
    }
    json_path = directory / f"{suite.name}.json"
    json_path.write_text(json.dumps(payload, indent=2, default=str))
    html_path = directory / f"{suite.name}.html"
    html_path.write_text(render_html(result, suite, run_id))
    _write_index(directory, run_id)
    return json_path, html_path
