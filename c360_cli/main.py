"""The `c360` command line: demo sources, materialization and the demo.

    c360 sources generate --persons N --seed S --out DIR
    c360 sources serve (--data-dir DIR | --persons N --seed S) [--port P] [--faults none|flaky|hostile]
    c360 sources advance [--days N]
    c360 materialize [--select SELECTION]
    c360 evaluate (--truth FILE | --labels [--threshold P])
    c360 demo [--persons N]
    c360 privacy find (--email E | --phone P | --name "First Last" | --golden-id G) [--warehouse FILE]
    c360 privacy export --golden-id G [--out FILE] [--warehouse FILE]
    c360 privacy object --golden-id G [--withdraw] [--reason TEXT] [--source TEXT] [--date D] [--warehouse FILE]
    c360 privacy erase --golden-id G --reason TEXT [--queue] [--warehouse FILE]
    c360 identity review (--export FILE | --import FILE) [--decided-by NAME] [--warehouse FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import requests

from c360 import settings

log = logging.getLogger("c360")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _add_world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--persons", type=int, help="number of real people in the generated world")
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same world)")
    parser.add_argument("--today", type=date.fromisoformat, help="last day of the history, ending at 04:00 UTC (default: the last day whose 04:00 UTC has passed)")
    parser.add_argument(
        "--dirt-scale", type=float, default=1.0, help="multiply every dirt rate (2 = twice the dirt)"
    )


DEMO_SOURCES_MISSING = (
    "the demo sources are not installed: they are the development-only package `demo_sources` "
    "(c360-demo-sources), installed by `make setup` in a checkout of the repository, not part of the c360 wheel"
)


class DemoSourcesMissing(Exception):
    """`c360 sources ...` or `c360 demo` ran where the demo sources package is not installed."""


def _require_demo_sources() -> None:
    """The demo sources are imported only by the commands that start them, and only if installed."""
    import importlib.util

    if importlib.util.find_spec("demo_sources") is None:
        raise DemoSourcesMissing(DEMO_SOURCES_MISSING)


def _generated_world(args: argparse.Namespace):
    from demo_sources.world import DirtRates, generate_world

    return generate_world(args.persons, args.seed, today=args.today, dirt=DirtRates().scaled(args.dirt_scale))


def cmd_sources_generate(args: argparse.Namespace) -> int:
    _require_demo_sources()
    from demo_sources.replay import write_replay

    started = time.perf_counter()
    world = _generated_world(args)
    counts = write_replay(world, Path(args.out))
    log.info("wrote %s records to %s in %.1f s", sum(counts.values()), args.out, time.perf_counter() - started)
    print(json.dumps({"out": str(args.out), "records": counts}, indent=2))
    return 0


def cmd_sources_serve(args: argparse.Namespace) -> int:
    _require_demo_sources()
    from demo_sources.current_csat import with_csat
    from demo_sources.replay import load_replay
    from demo_sources.server import SourceServer

    if args.data_dir:
        world = load_replay(Path(args.data_dir))
    elif args.persons:
        world = _generated_world(args)
    else:
        print("c360 sources serve: give --data-dir DIR or --persons N", file=sys.stderr)
        return 2
    world = with_csat(world, args.csat)
    server = SourceServer(
        world,
        host=args.host,
        port=args.port,
        faults=args.faults,
        credentials=settings.SourceCredentials.from_env(),
        fault_seed=args.seed,
        nps_export_dir=Path(args.nps_dir) if args.nps_dir else settings.nps_import_dir(),
    )
    print(f"Demo sources serving on {server.base_url} (faults: {args.faults}, clock: {world.now.isoformat()})")
    for system in settings.SYSTEMS:
        print(f"  {system.upper()}_API_URL={server.url(system)}")
    print(f"  C360_NPS_IMPORT_DIR={server.app.nps_export_dir} (the survey tool's NPS export, rewritten every day)")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


def _sources_admin_url(args: argparse.Namespace) -> str:
    return args.url or f"http://{settings.DEMO_SOURCES_HOST}:{settings.DEMO_SOURCES_PORT}"


def cmd_sources_advance(args: argparse.Namespace) -> int:
    url = f"{_sources_admin_url(args)}/_admin/advance"
    response = requests.post(url, params={"days": args.days}, timeout=600)
    response.raise_for_status()
    print(json.dumps(response.json(), indent=2))
    return 0


def materialize(selection: str | None = None) -> bool:
    """Run the selected assets in this process against the sources named by the env vars."""
    import dagster as dg

    from orchestration.definitions import defs

    instance = dg.DagsterInstance.get() if settings.dagster_home() else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    asset_selection = None
    if selection:
        asset_selection = list(dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph()))
        if not asset_selection:
            raise SystemExit(f"c360 materialize: the selection {selection!r} matches no asset")
    result = job.execute_in_process(instance=instance, asset_selection=asset_selection, raise_on_error=False)
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        log.error("run %s failed; failed steps: %s", result.run_id, ", ".join(sorted(set(failed))) or "?")
    else:
        log.info("run %s succeeded", result.run_id)
    return result.success


def cmd_materialize(args: argparse.Namespace) -> int:
    return 0 if materialize(args.select) else 1


def _bindable_port(host: str, port: int) -> int:
    """`port` if nothing listens on it yet (0: a free port), else a clear error instead of a demo
    that would talk to whatever already answers there (another demo's sources)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"port {port} on {host} is in use ({exc.strerror}): another demo? "
                             "Choose another with --sources-port (0 picks a free one).") from None
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the demo sources exited early (code {process.returncode}); see the output above")
        try:
            requests.get(url, timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit(f"the demo sources did not answer at {url} within {seconds:.0f} s")


def _top_level_blocks(text: str) -> dict[str, str]:
    """The top-level sections of a YAML file as text, each with the comment lines just above it."""
    blocks: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    key, start, comments_from = None, 0, None
    for number, line in enumerate(lines):
        if line.startswith("#"):
            comments_from = number if comments_from is None else comments_from
            continue
        top_level_key = re.match(r"([A-Za-z_][\w.-]*)\s*:", line)
        if top_level_key:
            begins = comments_from if comments_from is not None else number
            if key is not None:
                blocks[key] = "".join(lines[start:begins])
            key, start = top_level_key.group(1), begins
        comments_from = None
    if key is not None:
        blocks[key] = "".join(lines[start:])
    return blocks


def update_instance_file(instance_file: Path, project_file: Path) -> list[str]:
    """Give the Dagster instance file the settings of the project's `orchestration/dagster.yaml`.

    A missing file becomes a copy. An existing one keeps every section it has, as written (its
    settings win over the project's); the project's top-level sections it lacks (such as
    `run_monitoring`, which frees the pool slot of a crashed run) are appended to it, after a
    backup of the file to `dagster.yaml.bak`. Returns the names of the sections added.
    """
    import yaml

    project_text = project_file.read_text()
    if not instance_file.exists():
        instance_file.write_text(project_text)
        return list(yaml.safe_load(project_text))
    current_text = instance_file.read_text()
    try:
        current = yaml.safe_load(current_text) or {}
    except yaml.YAMLError as exc:
        log.warning("%s is not valid YAML; left as it is (%s)", instance_file, exc)
        return []
    if not isinstance(current, dict):
        log.warning("%s holds no mapping of settings; left as it is", instance_file)
        return []
    missing = {key: block for key, block in _top_level_blocks(project_text).items() if key not in current}
    if missing:
        updated = (
            current_text
            + ("\n" if current_text and not current_text.endswith("\n") else "")
            + "# Added by `c360 demo` from the project's orchestration/dagster.yaml:\n"
            + "".join(block if block.endswith("\n") else block + "\n" for block in missing.values())
        )
        merged = yaml.safe_load(updated)
        if not isinstance(merged, dict) or any(merged.get(k) != v for k, v in current.items()) or not all(
            k in merged for k in missing
        ):
            log.warning("%s: could not add the project's settings %s to it; left as it is",
                        instance_file, ", ".join(missing))
            return []
        instance_file.with_name(instance_file.name + ".bak").write_text(current_text)
        instance_file.write_text(updated)
        log.warning("%s: added the project's settings %s (the previous file is %s.bak)",
                    instance_file, ", ".join(missing), instance_file.name)
    monitoring = current.get("run_monitoring")
    if isinstance(monitoring, dict) and not (
        monitoring.get("enabled") and monitoring.get("free_slots_after_run_end_seconds")
    ):
        log.warning(
            "%s: run_monitoring lacks `enabled: true` or free_slots_after_run_end_seconds, so the "
            "warehouse slot of a crashed run is never freed and later runs wait for it "
            "(see orchestration/dagster.yaml)",
            instance_file,
        )
    return list(missing)


def cmd_demo(args: argparse.Namespace) -> int:
    _require_demo_sources()
    # Default signal handling, in case the caller started us with SIGINT/SIGTERM ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(PROJECT_ROOT)
    dagster_home = settings.use_dagster_home(PROJECT_ROOT / ".dagster_home")
    dagster_home.mkdir(parents=True, exist_ok=True)
    update_instance_file(dagster_home / "dagster.yaml", PROJECT_ROOT / "orchestration" / "dagster.yaml")
    port = _bindable_port(settings.DEMO_SOURCES_HOST, args.sources_port)
    # The pipeline, in this process and under `dagster dev`, reads the sources started here.
    settings.use_demo_sources(port)
    sources = subprocess.Popen(
        [sys.executable, "-m", "c360_cli.main", "sources", "serve", "--persons", str(args.persons),
         "--seed", str(args.seed), "--port", str(port), "--host", settings.DEMO_SOURCES_HOST],
    )
    try:
        _wait_for(f"http://{settings.DEMO_SOURCES_HOST}:{port}/_admin/state", sources, seconds=600)
        print(f"\nDemo sources are up: a world of {args.persons} people on http://{settings.DEMO_SOURCES_HOST}:{port}")
        print(f"Materializing every asset into {settings.warehouse_path()} ...", flush=True)
        if not materialize(None):
            print("The demo run failed: see the log above. The sources and the UI stay up so you can look.")
        else:
            print("Every asset is materialized.")
        print(
            f"\nThe Dagster UI starts on http://{args.ui_host}:{args.ui_port} (DAGSTER_HOME={dagster_home}).\n"
            f"The demo sources keep running on http://{settings.DEMO_SOURCES_HOST}:{port}; "
            f"`c360 sources advance{'' if port == settings.DEMO_SOURCES_PORT else f' --url http://{settings.DEMO_SOURCES_HOST}:{port}'}` "
            "moves their clock one day.\nPress Ctrl+C to stop both.\n",
            flush=True,
        )
        venv_bin = Path(sys.executable).parent
        ui = subprocess.Popen(
            [str(venv_bin / "dagster"), "dev", "-w", "workspace.yaml", "-h", args.ui_host, "-p", str(args.ui_port)],
            env=settings.environment_with_path(venv_bin),
        )
        try:
            return ui.wait()
        except KeyboardInterrupt:
            ui.send_signal(signal.SIGINT)
            ui.wait(timeout=30)
            return 0
    finally:
        sources.terminate()
        sources.wait(timeout=30)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from c360.identity.evaluate import main_cli

    return main_cli(args)


def _privacy_warehouse(args: argparse.Namespace) -> Path | None:
    warehouse = Path(args.warehouse) if args.warehouse else settings.warehouse_path()
    if not warehouse.exists():
        print(f"c360 privacy: no warehouse at {warehouse}", file=sys.stderr)
        return None
    return warehouse


def cmd_privacy_find(args: argparse.Namespace) -> int:
    from c360 import privacy

    query = privacy.PersonQuery(email=args.email, phone=args.phone, name=args.name, golden_id=args.golden_id)
    if query.is_empty():
        print("c360 privacy find: give --email, --phone, --name or --golden-id", file=sys.stderr)
        return 2
    warehouse = _privacy_warehouse(args)
    if warehouse is None:
        return 2
    found = privacy.find_person(query, warehouse)
    print(privacy.to_json(found))
    return 0 if found["golden_customers"] else 1


def _refused_on_spark(command: str, instead: str) -> bool:
    """On the Spark engine the facts and marts are Spark's tables, which `command` does not read: say
    so and what to do instead, rather than answer from the driver's warehouse alone."""
    from c360 import settings

    if settings.engine() != "spark":
        return False
    print(f"c360 privacy {command}: with C360_ENGINE=spark the facts and marts are in Spark's catalog, which "
          f"this command does not read; {instead}", file=sys.stderr)
    return True


def _export_on_spark(golden_id: str, warehouse: Path) -> dict:
    """The export from Spark's catalog and the driver's warehouse (`c360.privacy_on_spark`), in a session
    of its own that ends with it (a local catalog admits one process at a time)."""
    from c360.privacy_on_spark import export_on_spark
    from c360.spark_engine import catalog_session, free_embedded_metastore

    session = catalog_session("c360-privacy-export")
    try:
        return export_on_spark(session, warehouse, golden_id)
    finally:
        free_embedded_metastore()


def cmd_privacy_export(args: argparse.Namespace) -> int:
    from c360 import privacy, settings

    warehouse = _privacy_warehouse(args)
    if warehouse is None:
        return 2
    try:
        if settings.engine() == "spark":
            document = _export_on_spark(args.golden_id, warehouse)
        else:
            document = privacy.export_person(args.golden_id, warehouse)
    except LookupError as unknown:
        print(f"c360 privacy export: {unknown.args[0]}", file=sys.stderr)
        return 1
    text = privacy.to_json(document) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        log.info("wrote everything held about %s to %s", args.golden_id, args.out)
    else:
        sys.stdout.write(text)
    return 0


def cmd_privacy_object(args: argparse.Namespace) -> int:
    import duckdb

    from c360 import consent

    warehouse = _privacy_warehouse(args)
    if warehouse is None:
        return 2
    try:
        requested_on = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"c360 privacy object: --date {args.date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    request = consent.Request(args.golden_id, consent.WITHDRAW if args.withdraw else consent.OBJECT,
                              reason=args.reason, source=args.source, requested_on=requested_on)
    try:
        with duckdb.connect(str(warehouse)) as con:
            stored = consent.record_request(con, request)
    except duckdb.IOException as busy:
        print(f"c360 privacy object: cannot write {warehouse} (a pipeline run holds it?): {busy}", file=sys.stderr)
        return 2
    except (LookupError, ValueError) as refused:
        print(f"c360 privacy object: {refused.args[0]}", file=sys.stderr)
        return 1
    print(json.dumps(stored, indent=2))
    log.info("the segments leave the person out of (or take them back into) the marketing lists at the next run")
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    from c360 import erasure

    warehouse = _privacy_warehouse(args)
    if warehouse is None:
        return 2
    if args.queue:  # carried out by the next run's privacy step (a run may hold the warehouse now)
        import duckdb

        try:
            with duckdb.connect(str(warehouse)) as con:
                request_id = erasure.queue_request(con, args.golden_id, args.reason)
        except duckdb.IOException as busy:
            print(f"c360 privacy erase: cannot write {warehouse} (a pipeline run holds it?): {busy}", file=sys.stderr)
            return 2
        except ValueError as bad:
            print(f"c360 privacy erase: {bad}", file=sys.stderr)
            return 2
        print(json.dumps({"queued": request_id, "golden_customer_id": args.golden_id}))
        return 0
    if _refused_on_spark("erase", "queue the request with --queue: the pipeline's privacy step carries it out "
                                  "on Spark (`c360 materialize --select key:raw/_erasures` runs that step alone)"):
        return 2
    try:
        result = erasure.erase_person(args.golden_id, args.reason, warehouse)
    except LookupError as unknown:
        print(f"c360 privacy erase: {unknown.args[0]}", file=sys.stderr)
        return 1
    except ValueError as bad:
        print(f"c360 privacy erase: {bad}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    return 0


def _add_privacy_commands(commands) -> None:
    privacy = commands.add_parser("privacy", help="data subject requests (GDPR): find a person, export their data")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    find = privacy_commands.add_parser(
        "find", help="golden customers and every source record behind them (JSON); exit 1 if none"
    )
    find.add_argument("--email", help="e-mail address (normalised as the pipeline does)")
    find.add_argument("--phone", help="phone number in any German format (to E.164 as the pipeline does)")
    find.add_argument("--name", help='"First Last" (folded as the pipeline does: Müller = Mueller)')
    find.add_argument("--golden-id", help="golden customer id")
    find.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    find.set_defaults(func=cmd_privacy_find)
    export = privacy_commands.add_parser(
        "export", help="everything held about one golden customer, per system and table (Art. 15, JSON)"
    )
    export.add_argument("--golden-id", required=True, help="golden customer id (see `c360 privacy find`)")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    export.set_defaults(func=cmd_privacy_export)
    objection = privacy_commands.add_parser(
        "object", help="record an objection to direct marketing (Art. 21), or --withdraw it; kept as history"
    )
    objection.add_argument("--golden-id", required=True, help="golden customer id (see `c360 privacy find`)")
    objection.add_argument("--withdraw", action="store_true", help="the person withdraws their objection")
    objection.add_argument("--reason", help="the reason the person gave, if any (none is needed)")
    objection.add_argument("--source", help="how the request reached us, e.g. e-mail, letter, phone")
    objection.add_argument("--date", help="the day the person made the request, YYYY-MM-DD (default: now)")
    objection.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    objection.set_defaults(func=cmd_privacy_object)
    erase = privacy_commands.add_parser(
        "erase", help="erase one golden customer (Art. 17): delete, or keep accounting records pseudonymised"
    )
    erase.add_argument("--golden-id", required=True, help="golden customer id (see `c360 privacy find`)")
    erase.add_argument("--reason", required=True, help="the request's reference for the audit trail (no personal data)")
    erase.add_argument("--queue", action="store_true",
                       help="queue the request for the next run's privacy step instead of erasing now")
    erase.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    erase.set_defaults(func=cmd_privacy_erase)


def cmd_identity_review(args: argparse.Namespace) -> int:
    import duckdb

    from c360.identity import review

    warehouse = Path(args.warehouse) if args.warehouse else settings.warehouse_path()
    if not warehouse.exists():
        print(f"c360 identity review: no warehouse at {warehouse}", file=sys.stderr)
        return 2
    with duckdb.connect(str(warehouse)) as con:
        if args.export_path:
            n = review.export_queue(con, args.export_path)
            log.info("wrote %d pairs to review to %s (fill in `decision`: match or no_match)", n, args.export_path)
            return 0
        try:
            counts = review.import_decisions(con, args.import_path, decided_by=args.decided_by)
        except ValueError as invalid:
            print(f"c360 identity review: {invalid}", file=sys.stderr)
            return 1
    print(json.dumps(counts))
    log.info("the decisions take effect at the next resolution (marts/golden_customer_sources)")
    return 0


def _add_identity_commands(commands) -> None:
    identity = commands.add_parser("identity", help="identity resolution: a data steward's review of uncertain pairs")
    identity_commands = identity.add_subparsers(dest="identity_command", required=True)
    review = identity_commands.add_parser(
        "review", help="export the pairs to review (CSV), or import a steward's decisions (match / no_match)"
    )
    direction = review.add_mutually_exclusive_group(required=True)
    direction.add_argument("--export", dest="export_path", help="write the review queue to this CSV file")
    direction.add_argument("--import", dest="import_path",
                           help="CSV with record_key_l, record_key_r, decision (match|no_match), optional "
                           "decided_by, note")
    review.add_argument("--decided-by", help="who decided, for rows without a decided_by")
    review.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    review.set_defaults(func=cmd_identity_review)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c360", description="Customer 360 pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    sources = commands.add_parser("sources", help="the demo source systems (dev-only demo_sources package)")
    source_commands = sources.add_subparsers(dest="sources_command", required=True)

    generate = source_commands.add_parser("generate", help="write a generated world in the replay format")
    _add_world_arguments(generate)
    generate.add_argument("--out", required=True, help="directory to write the JSON Lines files into")
    generate.set_defaults(func=cmd_sources_generate)

    serve = source_commands.add_parser("serve", help="serve a world over HTTP, all four systems on one port")
    serve.add_argument("--data-dir", help="serve this replay directory instead of generating a world")
    _add_world_arguments(serve)
    serve.add_argument("--host", default=settings.DEMO_SOURCES_HOST)
    serve.add_argument("--port", type=int, default=settings.DEMO_SOURCES_PORT)
    serve.add_argument("--faults", choices=["none", "flaky", "hostile"], default="none")
    serve.add_argument("--csat", choices=["legacy", "survey", "both"], default="legacy",
                       help="the helpdesk's CSAT: legacy satisfaction ratings, CSAT survey responses (Zendesk's "
                            "current CSAT), or the ratings listed both ways (benchmarks)")
    serve.add_argument("--nps-dir", help="where the NPS survey export (CSV) is written (default: $C360_NPS_IMPORT_DIR)")
    serve.set_defaults(func=cmd_sources_serve)

    advance = source_commands.add_parser("advance", help="move the running demo sources' clock forward")
    advance.add_argument("--days", type=int, default=1)
    advance.add_argument("--url", help="base URL of the demo sources (default: the demo port)")
    advance.set_defaults(func=cmd_sources_advance)

    run = commands.add_parser("materialize", help="run assets in this process; non-zero exit on failure")
    run.add_argument("--select", help="asset selection, e.g. 'group:shop' or 'key:raw/shop_orders'")
    run.set_defaults(func=cmd_materialize)

    evaluate = commands.add_parser(
        "evaluate", help="compare the golden-customer crosswalk with a truth file or the steward's labels (JSON)"
    )
    against = evaluate.add_mutually_exclusive_group(required=True)
    against.add_argument("--truth", help="CSV: source_system,source_record_id,person_id")
    against.add_argument("--labels", action="store_true",
                         help="compare with the data steward's labels (intermediate.identity_labels)")
    evaluate.add_argument("--threshold", type=float, help="match threshold the model is judged at (--labels)")
    evaluate.add_argument("--warehouse", help="DuckDB file (default: $C360_WAREHOUSE)")
    evaluate.set_defaults(func=cmd_evaluate)

    demo = commands.add_parser("demo", help="start demo sources, materialize everything, serve the UI")
    demo.add_argument("--persons", type=int, default=5000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--ui-host", default="127.0.0.1")
    demo.add_argument("--ui-port", type=int, default=3000)
    demo.add_argument("--sources-port", type=int, default=settings.DEMO_SOURCES_PORT,
                      help=f"port of the demo sources (default {settings.DEMO_SOURCES_PORT}; 0: any free port)")
    demo.set_defaults(func=cmd_demo)
    _add_privacy_commands(commands)
    _add_identity_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except DemoSourcesMissing as missing:
        print(f"c360 {args.command}: {missing}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
