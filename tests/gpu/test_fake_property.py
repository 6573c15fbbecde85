"""Property: whatever devices a config file describes, the facts read through the real pynvml and the fake
are exactly those devices (the fake's JSON reader, its NVML answers and the facts reader agree)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.gpu import read_facts

pytestmark = pytest.mark.gpu

PROFILES = {0: "1g.10gb", 1: "2g.20gb", 2: "3g.40gb", 3: "4g.40gb", 4: "7g.80gb", 9: "1g.20gb"}
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60)
hex_id = st.text("0123456789abcdef", min_size=8, max_size=32)


@st.composite
def device(draw: st.DrawFn) -> dict[str, Any]:
    total = draw(st.integers(1, 200_000))
    procs = draw(st.lists(st.fixed_dictionaries({"pid": st.integers(1, 2**31 - 1), "used_mib": st.integers(0, total),
                                                 "mps": st.booleans()}), max_size=5))
    mig = None
    if draw(st.booleans()):
        ids = draw(st.sets(st.sampled_from(sorted(PROFILES)), min_size=1))
        current = draw(st.booleans())
        instances = draw(st.lists(st.fixed_dictionaries({
            "uuid": hex_id.map(lambda h: f"MIG-{h}"), "profile": st.sampled_from([PROFILES[i] for i in sorted(ids)]),
            "gpu_instance_id": st.integers(0, 14), "compute_instance_id": st.integers(0, 7),
            "memory_total_mib": st.integers(1, total), "memory_used_mib": st.integers(0, 100)}), max_size=3))
        mig = {"current": int(current), "pending": int(draw(st.booleans())),
               "profiles": [{"id": i, "name": PROFILES[i], "slices": 1 + i % 7, "instances": 1 + i % 4,
                             "memory_mib": 1000 * (i + 1)} for i in sorted(ids)],
               "devices": instances}
    return {"name": draw(ascii_text), "uuid": "GPU-" + draw(hex_id), "memory_total_mib": total,
            "memory_used_mib": draw(st.integers(0, total)), "compute_mode": draw(st.integers(0, 3)), "mig": mig,
            "processes": procs, "utilization_gpu": [draw(st.integers(0, 100))], "utilization_memory": [0]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=st.fixed_dictionaries({"driver_version": st.from_regex(r"\A[0-9]{3}\.[0-9]{2,3}\.[0-9]{2}\Z"),
                                     "cuda_version": st.integers(11000, 13090),
                                     "devices": st.lists(device(), min_size=1, max_size=3)}))
def test_facts_are_exactly_the_config(config: dict[str, Any], fake_nvml_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISYS_FAKE_NVML_DIR", str(fake_nvml_dir))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "devices.json"
        path.write_text(json.dumps(config))
        os.environ["AISYS_FAKE_NVML_CONFIG"] = str(path)
        try:
            facts = read_facts("h")
        finally:
            del os.environ["AISYS_FAKE_NVML_CONFIG"]
    assert facts.driver_version == config["driver_version"]
    assert facts.cuda_version == f"{config['cuda_version'] // 1000}.{config['cuda_version'] % 1000 // 10}"
    assert len(facts.devices) == len(config["devices"])
    for got, want in zip(facts.devices, config["devices"]):
        assert (got.name, got.uuid, got.memory_total_mib, got.memory_used_mib) == (
            want["name"], want["uuid"], want["memory_total_mib"], want["memory_used_mib"])
        assert got.compute_mode == ("default", "exclusive-thread", "prohibited", "exclusive-process")[
            want["compute_mode"]]
        assert sorted((p.pid, p.used_mib, p.mps) for p in got.processes) == sorted(
            (p["pid"], p["used_mib"], p["mps"]) for p in want["processes"])
        mig = want["mig"]
        assert got.mig_supported == (mig is not None)
        if mig is None:
            assert (got.mig_current, got.mig_profiles, got.mig_devices) == (None, (), ())
            continue
        assert (got.mig_current, got.mig_pending) == (bool(mig["current"]), bool(mig["pending"]))
        assert [(p.id, p.name, p.memory_mib) for p in got.mig_profiles] == [
            (p["id"], p["name"], p["memory_mib"]) for p in mig["profiles"]]
        expected = mig["devices"] if mig["current"] else []
        assert [(m.uuid, m.profile, m.gpu_instance_id, m.compute_instance_id, m.memory_total_mib)
                for m in got.mig_devices] == [(m["uuid"], m["profile"], m["gpu_instance_id"],
                                               m["compute_instance_id"], m["memory_total_mib"]) for m in expected]
