"""Project-wide pytest configuration.

The aisys-verify plugin itself is loaded through its ``pytest11`` entry point, so
this file only adds what is specific to this repository: where the real system's
published spec lives (beside the checkout, as ``../shared/reference-system``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE_SYSTEM = Path(__file__).resolve().parent.parent / "shared" / "reference-system"


@pytest.fixture(scope="session")
def reference_system() -> Path:
    """The real system's spec folder; tests that need it skip (with the reason) where it is absent."""
    if not REFERENCE_SYSTEM.is_dir():
        pytest.skip(f"the real system's spec is not at {REFERENCE_SYSTEM} (CI provides it; .ci/run fails without it)")
    return REFERENCE_SYSTEM
