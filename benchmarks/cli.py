"""Command-line options and output shared by the benchmark scripts."""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.corpora import DATA_DIR
from benchmarks.report import RESULTS_DIR, TARGET_COLUMNS, Column, format_table, machine, write_json


def build_parser(name: str, description: str, repeats: int = 3) -> argparse.ArgumentParser:
    """--full, --repeats, --json-out and --data-dir, common to every benchmark."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="KEMDy20-sized demo corpus (40 sessions x 336 segments; generated once, ~3 min, 1.3 GB)")
    parser.add_argument("--repeats", type=int, default=repeats, help="runs per measurement; medians are reported (default %(default)s)")
    parser.add_argument("--json-out", type=Path, default=None,
                        help=f"where the results are written as JSON (default: benchmarks/results/{name}.json, "
                             f"or {name}_full.json with --full)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="cache for generated corpora, features and models (default: benchmarks/.data/)")
    return parser


def finish(name: str, args: argparse.Namespace, sections: list[tuple[str, list[dict], list[Column]]],
           targets: list[dict], extra: dict | None = None) -> None:
    """Print each section as a table plus the target checks, and write everything as JSON."""
    info = machine()
    print(f"\n{name}: {info['nproc']} cores ({info['cpu_model']}; {', '.join(info['instruction_sets']) or '-'}), "
          f"{info['ram_gib']} GiB, "
          f"load {info['load_average']}, {info['date_utc']}{'  [--full]' if args.full else ''}")
    for title, rows, columns in sections:
        print(f"\n{title}\n{format_table(rows, columns)}")
    if targets:
        print(f"\ntargets\n{format_table(targets, TARGET_COLUMNS)}")
    payload = {"benchmark": name, "full": bool(args.full), "repeats": args.repeats, "machine": info,
               "sections": {title: rows for title, rows, _ in sections}, "targets": targets, **(extra or {})}
    path = write_json(args.json_out or RESULTS_DIR / f"{name}{'_full' if args.full else ''}.json", payload)
    print(f"\nwrote {path}")
