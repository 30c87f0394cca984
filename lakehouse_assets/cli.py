"""`lakehouse`: run the pipeline once, land files, query the tables.

`lakehouse run` materializes the whole asset graph (with its checks) against the persistent
Dagster instance in `DAGSTER_HOME` (default `.dagster/` in the current folder), so the run, its
metadata and check results are in `dagster dev` afterwards. It exits 0 when the run succeeded:
rejected rows are data, not a failure; a failed step or blocking check is. With no data file in
landing it starts no run (no Spark, no Dagster run: the landing sensor's rule), says so and exits 0.
Two `lakehouse run`s on one instance take turns (`instance.cli_run_lock`): the second waits, then
finds what the first left.

A user's mistake (a local root that is not a folder, an S3 root without credentials or endpoint, a
query Spark cannot parse or resolve, a folder with nothing to land) is one line on stderr,
`lakehouse <command>: <what is wrong>`, and exit status 2; `--debug` (or `LAKEHOUSE_DEBUG=1`) shows
the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glue_scripts.contracts import DATASETS
from glue_scripts.file_fates import STATUSES
from glue_scripts.landing import DATA_SUFFIXES, not_a_data_file
from glue_scripts.storage import LANDING, open_store

if TYPE_CHECKING:
    from pyspark.errors import AnalysisException

# The commands that work on a lakehouse root (`--root`, env LAKEHOUSE_ROOT, default ./lakehouse_data).
ROOT_COMMANDS = ("run", "land", "dev", "query", "release", "files")
ROOT_HELP = "lakehouse root: an existing folder or s3://bucket/prefix (env LAKEHOUSE_ROOT, default ./lakehouse_data)"
NEW_ROOT_HELP = "lakehouse root: a folder (created if missing) or s3://bucket/prefix (env LAKEHOUSE_ROOT)"
DEBUG_HELP = "on an error, show the Python traceback instead of one line (also env LAKEHOUSE_DEBUG=1)"


class UserError(Exception):
    """A mistake of the user's: `lakehouse <command>: <message>` on stderr, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    # `--debug` after the command too (`lakehouse query SQL --debug`), without overriding one before it.
    debug_option = argparse.ArgumentParser(add_help=False)
    debug_option.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run", parents=[debug_option], help="process every landed file once and print the summary"
    )
    run_parser.add_argument("--root", help=ROOT_HELP)
    land_parser = commands.add_parser(
        "land",
        parents=[debug_option],
        help="copy a folder's data files into landing/: <dataset>.csv, .csv.gz or .xlsx (any letter case) and the "
        "data files in <dataset>/ folders; prints each file landed or skipped and why",
    )
    land_parser.add_argument("source", type=Path)
    land_parser.add_argument("--root", help=NEW_ROOT_HELP)
    dev_parser = commands.add_parser(
        "dev",
        parents=[debug_option],
        help="start the Dagster UI and daemon (sensors, automation) on this root: `dagster dev`",
    )
    dev_parser.add_argument("--root", help=NEW_ROOT_HELP)
    dev_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    dev_parser.add_argument("--port", type=int, default=3000)
    query_parser = commands.add_parser(
        "query",
        parents=[debug_option],
        help="SQL over the tables by their Athena names: products, orders, order_items, daily_sales, top_products, "
        "rejected_<dataset>; and file_loads, the file ledger",
    )
    query_parser.add_argument("sql")
    query_parser.add_argument("--root", help=ROOT_HELP)
    query_parser.add_argument("--limit", type=int, default=100, help="rows to print (default 100)")
    release_parser = commands.add_parser(
        "release",
        parents=[debug_option],
        help="let files held by the rejection limit through as they are: the next run merges their good rows "
        "and keeps their rejected rows in rejected_<dataset>",
    )
    release_parser.add_argument("files", nargs="+", metavar="FILE", help="a held file: landing/<dataset>/<name>")
    release_parser.add_argument(
        "--accept-rejections", action="store_true", help="required: you have looked at their rejected rows"
    )
    release_parser.add_argument("--root", help=ROOT_HELP)
    files_parser = commands.add_parser(
        "files",
        parents=[debug_option],
        help="every delivered file version, from the ledger: when it was loaded, how far it got (raw, processed, "
        "held, released, archived, quarantined), its rows read / accepted / rejected / waiting, and why",
    )
    files_parser.add_argument("--status", choices=STATUSES, help="only the files with this status")
    files_parser.add_argument("--dataset", choices=DATASETS, help="only this data set's files")
    files_parser.add_argument("--root", help=ROOT_HELP)
    generate_parser = commands.add_parser(
        "generate",
        parents=[debug_option],
        help="write synthetic data in the lab schema into a new folder (for `land`), with a manifest",
    )
    generate_parser.add_argument(
        "--scale", type=float, default=0.01, help="1 = about 50,000 products, 3.4 M orders, 32 M items (default 0.01)"
    )
    generate_parser.add_argument("--days", type=int, default=7, help="one orders and one order_items file per day")
    generate_parser.add_argument("--dirty-share", type=float, default=0.0, help="share of dirty rows, 0 to 0.5")
    generate_parser.add_argument("--seed", type=int, default=0)
    generate_parser.add_argument("--start-date", default="2025-04-01", help="the first day (default 2025-04-01)")
    generate_parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    deploy_parser = commands.add_parser(
        "deploy",
        parents=[debug_option],
        help="upload the Glue code and the pipeline, create or update the AWS stack (infra/README.md)",
    )
    deploy_parser.add_argument("--stack", required=True, help="CloudFormation stack name (lowercase)")
    deploy_parser.add_argument("--bucket", required=True, help="artifacts bucket (created if missing)")
    deploy_parser.add_argument("--region", help="AWS region (default: the standard AWS chain)")
    deploy_parser.add_argument(
        "--dagster-image", help="also deploy the Dagster ECS stack <stack>-dagster running this image (ECR URI)"
    )
    deploy_parser.add_argument(
        "--dagster-parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Dagster stack parameter (VpcId, PrivateSubnetIds, UiAllowedCidr on the first deploy); repeatable",
    )
    args = parser.parse_args(argv)
    if getattr(args, "root", None):
        os.environ["LAKEHOUSE_ROOT"] = args.root
    debug = args.debug or os.environ.get("LAKEHOUSE_DEBUG", "") not in ("", "0")
    try:
        return dispatch(args)
    except Exception as error:
        message = None if debug else user_error(error, args.command)
        if message is None:
            raise
        print(f"lakehouse {args.command}: {message}", file=sys.stderr)
        return 2


def dispatch(args: argparse.Namespace) -> int:
    if args.command in ROOT_COMMANDS:
        check_root(args.command)
    if args.command == "run":
        return run()
    if args.command == "land":
        return land(args.source)
    if args.command == "dev":
        return dev(args.host, args.port)
    if args.command == "release":
        from lakehouse_assets.ledger_commands import release

        return release(args.files, args.accept_rejections, root())
    if args.command == "files":
        from lakehouse_assets.ledger_commands import files

        return files(args.status, args.dataset, root())
    if args.command == "generate":
        return generate(args.out, args.scale, args.days, args.dirty_share, args.seed, args.start_date)
    if args.command == "deploy":
        return deploy(args.stack, args.bucket, args.region, args.dagster_image, args.dagster_parameter)
    from lakehouse_assets.execution import LOCAL, execution_name

    if execution_name() != LOCAL:
        return athena_query(args.sql, args.limit)
    return query(args.sql, args.limit)


def athena_query(sql: str, limit: int) -> int:
    """AWS mode (`LAKEHOUSE_EXECUTION=glue|emr_serverless`): the query goes to Athena (`athena_query`)."""
    from lakehouse_assets.athena_query import AthenaQueryError, athena_rows

    try:
        columns, rows = athena_rows(sql, limit)
    except AthenaQueryError as error:
        raise UserError(str(error)) from error
    print_rows(columns, rows, limit)
    return 0


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int) -> None:
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join("" if value is None else str(value) for value in row))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{', limited' if len(rows) == limit else ''})")


def user_error(error: Exception, command: str) -> str | None:
    """The one line saying what is wrong, or None for an error that is not the user's (shown with its traceback)."""
    if isinstance(error, UserError | FileNotFoundError | ValueError):
        return str(error)
    if command in ROOT_COMMANDS and (problem := s3_problem(error)):
        return f"cannot use the root {root()}: {problem}"
    return None


def s3_problem(error: Exception) -> str | None:
    """What botocore says went wrong (no credentials, no endpoint, refused by S3) and what to do, or None."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as EndpointError

    if not isinstance(error, BotoCoreError | ClientError):
        return None
    lines = str(error).strip().splitlines() or [""]
    problem = f"{lines[0]} ({type(error).__name__})"
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"{problem}; set AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(error, EndpointError | HTTPClientError):
        return f"{problem}; check the network and the endpoint (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION)"
    if isinstance(error, ClientError):
        return f"{problem}; check the bucket name and that the credentials may use it"
    return problem


def root() -> str:
    from lakehouse_assets.resources import default_root

    return default_root()


def check_root(command: str) -> None:
    """A local root must be a folder: an existing one for `run` and `query`; `land` and `dev` create a missing one.

    `dev` waits for files, so it may start on an empty lakehouse. An `s3://` root is not looked at
    here: its first request says what is wrong with it.
    """
    lakehouse_root = root()
    if lakehouse_root.startswith("s3://"):
        return
    path = Path(lakehouse_root).expanduser().absolute()
    if path.is_dir():
        return
    if path.exists():
        raise UserError(
            f"the root {lakehouse_root} is a file, not a folder: give --root a folder or s3://bucket/prefix"
        )
    if command in ("run", "query"):
        raise UserError(
            f"no lakehouse root at {lakehouse_root} (no such folder): give --root (or LAKEHOUSE_ROOT) an existing "
            f"folder, or land files first: lakehouse land DIR --root {lakehouse_root}"
        )
    parent = next(folder for folder in path.parents if folder.exists())
    if not parent.is_dir():
        raise UserError(f"cannot create the root {lakehouse_root}: {parent} is a file, not a folder")
    if command == "dev":
        path.mkdir(parents=True)


def reach_root(prefix: str) -> None:
    """On an S3 root, one listing before anything slow starts: missing credentials or endpoint are said at once."""
    if root().startswith("s3://"):
        open_store(root()).list_children(prefix)


def land(source: Path) -> int:
    """Copy data files into the landing zone (through the store, so an S3 root works too).

    Prints each file landed (`landed <dataset>/<name>`) and each one skipped with the reason, then
    the count. A folder with files but none to land is a mistake (exit 2); an empty one is not.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"no such folder: {source}")
    landing, skipped = landing_plan(source)
    store = open_store(root())
    for dataset, file in landing:
        store.write_bytes(f"{LANDING}/{dataset}/{file.name}", file.read_bytes())
        print(f"landed {dataset}/{file.name}")
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    if skipped and not landing:
        raise UserError(
            f"nothing to land in {source}: no data file ({', '.join(DATA_SUFFIXES)}) named <dataset>.<suffix> or in "
            f"a <dataset>/ folder (data sets: {', '.join(DATASETS)})"
        )
    print(f"landed {len(landing)} files from {source} into {store.root}/{LANDING}/")
    return 0


def landing_plan(source: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """The files of `source` to land, as (data set, file), and the others as (path in `source`, why not).

    Landed: `<dataset>.csv`, `.csv.gz` or `.xlsx` at the top (`ORDERS.CSV`, `Orders.xlsx`: any letter
    case), and the files directly in a `<dataset>/` folder (its name in lowercase) that the landing
    sensor takes (`landing.not_a_data_file`: no hidden file or upload in progress, any letter case of
    suffix). In data set order (products before the orders that name them), each data set's top file first;
    a file that would land under the name of one before it is skipped.
    """
    top_names = {f"{dataset}{suffix}": dataset for dataset in DATASETS for suffix in DATA_SUFFIXES}
    landing: list[tuple[str, Path]] = []
    skipped: list[tuple[str, str]] = []
    for file in sorted(path for path in source.rglob("*") if path.is_file()):
        parts = file.relative_to(source).parts
        dataset = top_names.get(file.name.lower()) if len(parts) == 1 else parts[0]
        if len(parts) == 1:
            reason = not_a_data_file(file.name) or (
                None if dataset else f"not named for a data set ({', '.join(DATASETS)}): <dataset>.csv or <dataset>/"
            )
        elif dataset not in DATASETS:
            reason = f"no data set named {dataset} ({', '.join(DATASETS)})"
        elif len(parts) > 2:
            reason = f"in a folder inside {dataset}/ (only the files directly in {dataset}/ are landed)"
        else:
            reason = not_a_data_file(file.name)
        if reason:
            skipped.append(("/".join(parts), reason))
        else:
            landing.append((str(dataset), file))
    landing.sort(key=lambda entry: (DATASETS.index(entry[0]), len(entry[1].relative_to(source).parts), entry[1]))
    # `orders.csv` at the top and `orders/orders.csv` both land as landing/orders/orders.csv: the first
    # one is landed, the other skipped rather than written over it.
    first_by_target: dict[str, Path] = {}
    for dataset, file in landing:
        target = f"{dataset}/{file.name}"
        first = first_by_target.setdefault(target, file)
        if first != file:
            why = f"lands as {target}, as {first.relative_to(source).as_posix()} does: rename one of them"
            skipped.append((file.relative_to(source).as_posix(), why))
    landed = [(dataset, file) for dataset, file in landing if first_by_target[f"{dataset}/{file.name}"] == file]
    return landed, sorted(skipped)


def generate(out: Path, scale: float, days: int, dirty_share: float, seed: int, start_date: str) -> int:
    """Write a synthetic data set (lakehouse_assets.generator) and print its rows per data set."""
    from lakehouse_assets.generator import generate as write_data_set
    from lakehouse_assets.generator import rows_written

    manifest = write_data_set(out, scale, days, dirty_share, seed, start_date)
    print(f"{'dataset':<12} {'files':>6} {'rows':>12} {'clean':>12} {'dirty':>10}")
    for name, dataset in manifest["datasets"].items():
        print(
            f"{name:<12} {len(dataset['files']):>6} {dataset['rows']:>12,} {dataset['clean']:>12,} "
            f"{dataset['dirty']:>10,}"
        )
    seconds = manifest["elapsed_seconds"]
    rows = rows_written(manifest)
    print(f"\nwrote {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s) into {out}")
    print(f"manifest: {out / 'manifest.json'}")
    return 0


def deploy(
    stack: str,
    bucket: str,
    region: str | None,
    dagster_image: str | None = None,
    dagster_parameters: list[str] | None = None,
) -> int:
    """Deploy to AWS (lakehouse_assets.deploy) and print what was uploaded and the stack's outputs."""
    from lakehouse_assets.deploy import DeployError
    from lakehouse_assets.deploy import deploy as deploy_stack

    dagster_parameters = dagster_parameters or []
    malformed = [item for item in dagster_parameters if "=" not in item]
    if malformed:
        print(f"lakehouse deploy: --dagster-parameter takes KEY=VALUE, not {malformed[0]!r}", file=sys.stderr)
        return 1
    parameters = dict(item.split("=", 1) for item in dagster_parameters)
    try:
        result = deploy_stack(stack, bucket, region=region, dagster_image=dagster_image, dagster_parameters=parameters)
        print(result.render())
    except DeployError as error:
        print(f"lakehouse deploy: {error}", file=sys.stderr)
        return 1
    return 0


# `dagster dev` warns that `dg dev` supersedes it; `lakehouse dev` is what users run, so the note is
# not theirs to act on (the `dg` project layout is a change of its own).
DEV_WARNING_FILTER = ("-W", "ignore:Function `dev_command` is superseded")


def dev(host: str, port: int) -> int:
    """Replace this process with `dagster dev` on the lakehouse's instance and code location."""
    from dagster import DagsterInstance

    from lakehouse_assets.definitions import build_definitions
    from lakehouse_assets.instance import definitions_pools, ensure_dagster_home, ensure_pool_limits, release_dead_runs

    reach_root(LANDING)
    ensure_dagster_home()
    os.environ.setdefault("LAKEHOUSE_ROOT", root())
    with DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"lakehouse dev: run {run_id} had died without ending; marked failed and its pool slots freed")
        ensure_pool_limits(instance, definitions_pools(build_definitions()))
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").exists() else ["-m", "lakehouse_assets.definitions"]
    os.execv(
        sys.executable,
        [sys.executable, *DEV_WARNING_FILTER, "-m", "dagster", "dev", *target, "-h", host, "-p", str(port)],
    )
    return 0  # not reached


def waiting_files(lakehouse_root: str) -> int:
    """Data files waiting in landing, by the rule the ingest step takes them (`landing.landing_files`)."""
    from glue_scripts.landing import landing_files

    store = open_store(lakehouse_root)
    return sum(len(landing_files(store, dataset)) for dataset in DATASETS)


def run() -> int:
    from lakehouse_assets.instance import cli_run_lock, ensure_dagster_home

    with cli_run_lock(ensure_dagster_home()):
        if waiting_files(root()) == 0:
            print(f"lakehouse run: no data file in {root()}/{LANDING}/<dataset>/: nothing to do, no run started")
            return 0
        return run_job()


def run_job() -> int:
    """`lakehouse_job` in this process on the instance in `DAGSTER_HOME`; prints the summary."""
    from dagster import DagsterInstance

    from lakehouse_assets.definitions import build_definitions
    from lakehouse_assets.instance import cli_run_tags, definitions_pools, ensure_pool_limits, release_dead_runs
    from lakehouse_assets.run_summary import planned_checks, render_summary

    log_level = os.environ.get("LAKEHOUSE_LOG_LEVEL", "INFO")
    with DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"lakehouse: run {run_id} had died without ending; marked failed and its pool slots freed")
        definitions = build_definitions(root=root())
        ensure_pool_limits(instance, definitions_pools(definitions))
        job = definitions.resolve_job_def("lakehouse_job")
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags=cli_run_tags(),
            # Step-by-step DEBUG events stay in the instance (and the UI); the terminal gets INFO.
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        print(render_summary(result, root(), planned_checks(instance, result.run_id)))
        return 0 if result.success else 1


def refused_statement(spark: Any, sql: str) -> str | None:
    """What in `sql` would change something (a write, DDL, a Delta command, a setting), or None for a query.

    `spark.sql` runs commands eagerly, so the statement is parsed first (Spark's parser with Delta's
    extension: `VACUUM`, `OPTIMIZE` ... are recognised) and every node of the parsed plan is looked
    at: any command (`DELETE`, `UPDATE`, `MERGE`, `CREATE`, `DROP`, `SET` ...) or insert statement,
    also one inside a `WITH`, is refused before anything runs.
    """
    jvm = spark.sparkContext._jvm
    command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    pending = [spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)]
    while pending:
        node = pending.pop()
        name = node.getClass().getSimpleName()
        if command.isInstance(node) or name.endswith("Statement") or name.startswith("InsertInto"):
            return name.removesuffix("Statement").removesuffix("Command") or name
        children = node.children()
        pending.extend(children.apply(i) for i in range(children.size()))
    return None


def query_problem(error: AnalysisException, views: Sequence[str]) -> str:
    """Spark's error in one line: the parser's message with its position, the analyzer's first line (no plan).

    An unknown table is named with the position and the tables there are (the views registered).
    """
    text = str(error)
    if error.getErrorClass() == "TABLE_OR_VIEW_NOT_FOUND":
        name = (error.getMessageParameters() or {}).get("relationName", "?")
        position = re.search(r"; (line \d+ pos \d+)", text)
        where = f" ({position.group(1)})" if position else ""
        return f"no table {name}{where}; the tables are: {', '.join(views)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].rstrip(";") if lines else type(error).__name__


def query(sql: str, limit: int) -> int:
    """Run SQL over read-only views of the lakehouse tables, by the names Athena sees in Glue.

    `products`, `orders`, `order_items` (processed), `rejected_<dataset>`, `daily_sales` and
    `top_products` (`glue_scripts.catalog.lakehouse_tables`): temporary views over each Delta table's
    current snapshot, so the same SQL runs here and in Athena. The processed tables must exist; the
    others are there once a run made them. Also `file_loads`, the file ledger of every data set (one
    row per stage a file version reached; local only, not registered in Glue).
    """
    from pyspark.errors import AnalysisException

    from glue_scripts.catalog import lakehouse_tables
    from glue_scripts.delta_tables import read_table, table_exists
    from glue_scripts.file_fates import FILE_LEDGER_VIEW, existing_ledgers
    from glue_scripts.storage import PROCESSED
    from lakehouse_assets.spark_config import local_spark_session

    reach_root(PROCESSED)
    store = open_store(root())
    spark = local_spark_session()
    views: list[str] = []
    try:
        if refused := refused_statement(spark, sql):
            message = f"lakehouse query runs queries only; {refused} is refused (the tables are read-only here)"
            print(message, file=sys.stderr)
            return 2
        for table in lakehouse_tables():
            path = store.spark_path(table.key)
            if not table_exists(spark, path):
                if table.key.startswith(f"{PROCESSED}/"):
                    raise FileNotFoundError(f"no {table.key} table under {store.root}: run `lakehouse run` first")
                continue
            read_table(spark, path).createOrReplaceTempView(table.name)
            views.append(table.name)
        if (ledgers := existing_ledgers(spark, store)) is not None:
            ledgers.createOrReplaceTempView(FILE_LEDGER_VIEW)
            views.append(FILE_LEDGER_VIEW)
        frame = spark.sql(sql)
        rows = frame.limit(limit).collect()
    except AnalysisException as error:  # ParseException is one too
        raise UserError(query_problem(error, views)) from error
    print_rows(frame.columns, rows, limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
