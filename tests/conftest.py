"""Shared fixtures of the framework's own tests (pytester for plugin runs, a per-test state dir)."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def reference_system() -> Path:
    """The real system's published spec (../shared/reference-system, ``reference_spec.REF``); skips, naming the
    path, when it is absent (CI refuses to run without it)."""
    from reference_spec import require_reference

    return require_reference()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir of this test's own (in the environment, for in-process stacks, child runs and state.reap())."""
    folder = tmp_path / "state"
    folder.mkdir()
    monkeypatch.setenv("AISYS_STATE_DIR", str(folder))
    return folder
