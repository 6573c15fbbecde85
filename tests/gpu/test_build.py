"""scripts/build-fake-nvml: a fresh machine gets the fake from the project's own files, and a second run is
a no-op until the source changes (cached by hash)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.gpu


def build(out: Path, script: Path = REPO / "scripts" / "build-fake-nvml") -> str:
    done = subprocess.run([str(script), sys.prefix], env={**os.environ, "AISYS_FAKE_NVML_DIR": str(out)},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_builds_once_and_again_only_when_the_source_changes(tmp_path: Path) -> None:
    # a copy of the checkout's script and source, so the source can be edited
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "build-fake-nvml", tmp_path / "scripts")
    shutil.copytree(REPO / "native", tmp_path / "native")
    script, out = tmp_path / "scripts" / "build-fake-nvml", tmp_path / "out"
    assert "built" in build(out, script)
    library = out / "libnvidia-ml.so.1"
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                             check=True).stdout
    # the exported names are the versioned ones nvml.h maps to and pynvml asks for
    for name in ("nvmlInitWithFlags", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
                 "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGpuInstanceProfileInfoV"):
        assert f" T {name}\n" in symbols
    assert "nvmlDeviceSetMigMode" not in symbols  # reads only
    stamp = library.stat().st_mtime_ns
    assert build(out, script) == ""  # cached
    assert library.stat().st_mtime_ns == stamp
    source = tmp_path / "native" / "fake-nvml" / "fake_nvml.c"
    source.write_text(source.read_text() + "\n/* changed */\n")
    assert "built" in build(out, script)
