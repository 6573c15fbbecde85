"""The Jaeger tests' shared pieces: they skip, naming why, where Jaeger or the OTLP exporter is missing, and a
module's tests share one Jaeger all-in-one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aisys_verify.errors import CapabilityMissing
from aisys_verify.jaeger import JaegerServer, jaeger_binary


def _built() -> bool:
    try:
        jaeger_binary()
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except (CapabilityMissing, ImportError):
        return False
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _built():
        return
    missing = pytest.mark.skip(reason="Jaeger not built (scripts/build-jaeger) or the observability extra (OTLP "
                                      "exporter) not installed")
    for item in items:
        if item.path.parent.name == "observability":
            item.add_marker(missing)


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    with JaegerServer(tmp_path_factory.mktemp("jaeger") / "jaeger.log") as server:
        yield server
