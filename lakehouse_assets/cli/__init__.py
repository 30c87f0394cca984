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
import sys
from collections.abc import Sequence
from pathlib import Path

from glue_scripts.contracts import DATASETS
from glue_scripts.file_fates import STATUSES
from lakehouse_assets.cli.errors import UserError, s3_problem
from lakehouse_assets.cli.land import land
from lakehouse_assets.cli.query import athena_query, query
from lakehouse_assets.cli.root import ROOT_COMMANDS, check_root, default_root
from lakehouse_assets.cli.run import dev, run
from lakehouse_assets.cli.tooling import deploy, generate

ROOT_HELP = "lakehouse root: an existing folder or s3://bucket/prefix (env LAKEHOUSE_ROOT, default ./lakehouse_data)"
NEW_ROOT_HELP = "lakehouse root: a folder (created if missing) or s3://bucket/prefix (env LAKEHOUSE_ROOT)"
DEBUG_HELP = "on an error, show the Python traceback instead of one line (also env LAKEHOUSE_DEBUG=1)"


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
    if args.command in ROOT_COMMANDS:
        args.root = args.root or default_root()
    debug = args.debug or os.environ.get("LAKEHOUSE_DEBUG", "") not in ("", "0")
    try:
        return dispatch(args)
    except Exception as error:
        message = None if debug else user_error(error, args)
        if message is None:
            raise
        print(f"lakehouse {args.command}: {message}", file=sys.stderr)
        return 2


def dispatch(args: argparse.Namespace) -> int:
    lakehouse_root: str = args.root if args.command in ROOT_COMMANDS else ""
    if lakehouse_root:
        check_root(args.command, lakehouse_root)
    if args.command == "run":
        return run(lakehouse_root)
    if args.command == "land":
        return land(args.source, lakehouse_root)
    if args.command == "dev":
        return dev(args.host, args.port, lakehouse_root)
    if args.command == "release":
        from lakehouse_assets.cli.ledger import release

        return release(args.files, args.accept_rejections, lakehouse_root)
    if args.command == "files":
        from lakehouse_assets.cli.ledger import files

        return files(args.status, args.dataset, lakehouse_root)
    if args.command == "generate":
        return generate(args.out, args.scale, args.days, args.dirty_share, args.seed, args.start_date)
    if args.command == "deploy":
        return deploy(args.stack, args.bucket, args.region, args.dagster_image, args.dagster_parameter)
    from lakehouse_assets.resources import environment_name

    if environment_name() == "aws":
        return athena_query(args.sql, args.limit)
    return query(args.sql, args.limit, lakehouse_root)


def user_error(error: Exception, args: argparse.Namespace) -> str | None:
    """The one line saying what is wrong, or None for an error that is not the user's (shown with its traceback)."""
    if isinstance(error, UserError | FileNotFoundError | ValueError):
        return str(error)
    if args.command in ROOT_COMMANDS and (problem := s3_problem(error)):
        return f"cannot use the root {args.root}: {problem}"
    return None
