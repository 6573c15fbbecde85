"""Where the fake NVML (native/fake-nvml) lives, and loading it in place of the driver's library.

``scripts/setup`` builds ``build/fake-nvml/libnvidia-ml.so.1`` from native/fake-nvml/fake_nvml.c with the
system C compiler and nvml.h from PyPI's nvidia-nvml-dev (scripts/build-fake-nvml, cached by source hash).
Two ways to use it, both running the real pynvml unchanged:

* a child process: ``fake_env(device_file)`` gives LD_LIBRARY_PATH and AISYS_FAKE_NVML_CONFIG, and pynvml's
  ``CDLL("libnvidia-ml.so.1")`` finds the fake through the library path, as it would the driver's;
* this process (pytest): the dynamic loader reads LD_LIBRARY_PATH only at start-up, so
  ``preload_if_configured()`` loads the fake by path first when AISYS_FAKE_NVML_CONFIG is set; the loader
  then answers pynvml's ``CDLL("libnvidia-ml.so.1")`` with it, matched by its soname.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from aisys_verify.errors import NvmlUnavailable

ENV_CONFIG = "AISYS_FAKE_NVML_CONFIG"  # the device JSON the fake reads at nvmlInit
ENV_LIB_DIR = "AISYS_FAKE_NVML_DIR"  # where the built library is (default: build/fake-nvml of the checkout)
ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "native" / "fake-nvml"
DEVICE_DIR = SOURCE_DIR / "devices"
LIBRARY = "libnvidia-ml.so.1"


def library_dir() -> Path:
    return Path(os.environ.get(ENV_LIB_DIR) or ROOT / "build" / "fake-nvml")


def device_files() -> dict[str, Path]:
    """The shipped example devices by name: rtx4090, rtx3060, h100-mig, a100."""
    return {p.stem: p for p in sorted(DEVICE_DIR.glob("*.json"))}


def library_path() -> Path:
    path = library_dir() / LIBRARY
    if not path.is_file():
        raise NvmlUnavailable(f"{ENV_CONFIG} is set but the fake NVML is not built ({path} is missing): run "
                              "scripts/setup (or scripts/build-fake-nvml)", function="load fake NVML")
    return path


def fake_env(device_file: Path | str) -> dict[str, str]:
    """Environment for a child process that should see the fake NVML with these devices."""
    previous = os.environ.get("LD_LIBRARY_PATH")
    path = str(library_path().parent) + (f":{previous}" if previous else "")
    return {"LD_LIBRARY_PATH": path, ENV_CONFIG: str(Path(device_file).resolve())}


_loaded: dict[str, ctypes.CDLL] = {}  # the one fake loaded in this process, by path


def preload_if_configured() -> ctypes.CDLL | None:
    """Load the fake by path when AISYS_FAKE_NVML_CONFIG is set (once per process); otherwise nothing."""
    if not os.environ.get(ENV_CONFIG):
        return None
    path = str(library_path())
    if path not in _loaded:
        _loaded[path] = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return _loaded[path]
