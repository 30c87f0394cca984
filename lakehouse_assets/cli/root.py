"""The lakehouse root a command works on: `--root`, env LAKEHOUSE_ROOT, default ./lakehouse_data."""

from __future__ import annotations

from pathlib import Path

from glue_scripts.storage import open_store
from lakehouse_assets.cli.errors import UserError

# The commands that work on a lakehouse root.
ROOT_COMMANDS = ("run", "land", "dev", "query", "release", "files")


def default_root() -> str:
    """The root without `--root`: env LAKEHOUSE_ROOT, else ./lakehouse_data (the `lakehouse` resource's default)."""
    from lakehouse_assets.resources import default_root as resource_default

    return resource_default()


def check_root(command: str, lakehouse_root: str) -> None:
    """A local root must be a folder: an existing one for `run` and `query`; `land` and `dev` create a missing one.

    `dev` waits for files, so it may start on an empty lakehouse. An `s3://` root is not looked at
    here: its first request says what is wrong with it.
    """
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


def reach_root(lakehouse_root: str, prefix: str) -> None:
    """On an S3 root, one listing before anything slow starts: missing credentials or endpoint are said at once."""
    if lakehouse_root.startswith("s3://"):
        open_store(lakehouse_root).list_children(prefix)
