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


# --- exhaustive: cases another test already covers, run on demand (CI time, issue 18) ----------------------------
EXHAUSTIVE_WHY = ("exhaustive: outside CI's time budget (covered by a bounded case CI runs, or a long local "
                  "check such as act); --exhaustive or AISYS_EXHAUSTIVE=1 runs it")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--exhaustive", action="store_true", default=False,
                     help="also run the framework tests marked exhaustive (redundant with a bounded case CI runs)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exhaustive: redundant with a bounded case CI runs; skipped unless "
                                       "--exhaustive or AISYS_EXHAUSTIVE=1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    if config.getoption("--exhaustive") or os.environ.get("AISYS_EXHAUSTIVE") == "1":
        return
    for item in items:
        if item.get_closest_marker("exhaustive"):
            item.add_marker(pytest.mark.skip(reason=EXHAUSTIVE_WHY))
