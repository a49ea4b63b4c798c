"""Tables, JSON results and the description of the machine a benchmark ran on."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Sequence

from preprocessing.versions import processor

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"

Column = tuple[str, str, str]  # key in the row, header, format spec ("" for str())


def machine() -> dict:
    """Cores, CPU model, memory, load, software and date of this run."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = processor()
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": cpus,
        "cpu_model": cpu["model"],
        "instruction_sets": cpu["instruction_sets"],
        "ram_gib": round(_meminfo_kib("MemTotal") / 2**20, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": _commit(),
    }


def load_average() -> float:
    """The 1-minute load average (other processes competing for the cores show up here)."""
    return round(os.getloadavg()[0], 2)


def format_table(rows: Sequence[dict], columns: Sequence[Column]) -> str:
    """Rows as an aligned text table; missing values print as '-'."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([_cell(row.get(key), spec) for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> Path:
    """Write the results (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def target_line(name: str, value: float | None, limit: float, unit: str, higher_is_better: bool) -> dict:
    """One target check: met or missed, and by how much."""
    if value is None:
        return {"target": name, "value": None, "limit": limit, "unit": unit, "met": None, "note": "not measured"}
    met = value >= limit if higher_is_better else value <= limit
    factor = value / limit if higher_is_better else limit / value if value else float("inf")
    return {"target": name, "value": round(value, 3), "limit": limit, "unit": unit, "met": met,
            "note": f"{'met' if met else 'MISSED'} ({factor:.2f}x the target)"}


TARGET_COLUMNS: list[Column] = [("target", "target", ""), ("value", "measured", ",.3f"), ("unit", "unit", ""),
                                ("limit", "target value", ",g"), ("note", "result", "")]


def _cell(value, spec: str) -> str:
    if value is None:
        return "-"
    if spec and isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def _meminfo_kib(field: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
