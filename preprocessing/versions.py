"""Installed package versions, recorded in every output for reproducibility."""
from __future__ import annotations

import platform
from importlib import metadata


def package_versions(names: list[str]) -> dict[str, str]:
    """{"python": ..., name: version or "not installed"} for each distribution name."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
