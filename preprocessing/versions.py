"""Installed package versions and the processor, recorded in every output for reproducibility."""
from __future__ import annotations

import functools
import platform
from importlib import metadata
from pathlib import Path

# Vector instruction sets that decide which kernels TensorFlow's oneDNN runs on the CPU (x86, then Arm), and
# so how its sums round: networks trained with the same seed differ between processors that differ here.
INSTRUCTION_SETS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                    "asimd", "sve", "sve2")


def package_versions(names: list[str]) -> dict[str, str]:
    """{"python": ..., name: version or "not installed"} for each distribution name."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def processor(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """{"model": the CPU's name, "instruction_sets": those of INSTRUCTION_SETS it has} (from ``cpuinfo``
    on Linux; elsewhere the platform's name for it and an empty list)."""
    model, flags = "", set()
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:  # x86 / Arm Linux
                flags = set(value.split())
            if model and flags:
                break
    except OSError:
        pass
    return {"model": model or platform.processor() or platform.machine() or "unknown",
            "instruction_sets": [name for name in INSTRUCTION_SETS if name in flags]}
