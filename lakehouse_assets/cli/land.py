"""`lakehouse land`: copy a folder's data files into the landing zone."""

from __future__ import annotations

from pathlib import Path

from glue_scripts.contracts import DATASETS
from glue_scripts.landing import DATA_SUFFIXES, not_a_data_file
from glue_scripts.storage import LANDING, open_store
from lakehouse_assets.cli.errors import UserError


def land(source: Path, lakehouse_root: str) -> int:
    """Copy data files into the landing zone (through the store, so an S3 root works too).

    Prints each file landed (`landed <dataset>/<name>`) and each one skipped with the reason, then
    the count. A folder with files but none to land is a mistake (exit 2); an empty one is not.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"no such folder: {source}")
    landing, skipped = landing_plan(source)
    store = open_store(lakehouse_root)
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
