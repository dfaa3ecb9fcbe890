"""Provenance an audit records: the package versions and the machine it ran on."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

import torch

PACKAGES = ("trustml", "torch", "opacus", "captum", "fairlearn", "shap", "transformers",
            "scikit-learn", "numpy", "pandas")


def versions() -> dict[str, str]:
    """Python's version and each of :data:`PACKAGES`' ("not installed" when absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict:
    """The machine: OS, CPU architecture and cores, memory, torch threads and GPU (if any)."""
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # not POSIX
        memory_gb = None
    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_cores": os.cpu_count(), "memory_gb": memory_gb,
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}
