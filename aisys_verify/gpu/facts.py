"""What the GPUs of this machine are and how they are partitioned, read through NVML (nvidia-ml-py).

``read_facts()`` asks NVML (the real driver's ``libnvidia-ml.so.1``, or the fake one of native/fake-nvml
when ``AISYS_FAKE_NVML_CONFIG`` is set) for each device's name, UUID, memory, compute mode, MIG mode
(current and pending), MIG profiles and devices, running compute and MPS processes, utilisation, and the
driver and CUDA versions. Only reads: nothing here changes a setting. ``pynvml`` is imported lazily and
every ``NVMLError`` is translated here, in ``call``, into NvmlError / NvmlUnavailable with a message that
says what to do. Facts round-trip through JSON (``to_json`` / ``from_json``) for ``--save`` and fixtures.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import NvmlError, NvmlUnavailable, UsageError
from aisys_verify.gpu.fake import ENV_CONFIG, preload_if_configured

MIB = 1024 * 1024
COMPUTE_MODES = {0: "default", 1: "exclusive-thread", 2: "prohibited", 3: "exclusive-process"}
FACTS_FORMAT = "aisys-verify/gpu-facts/v1"
_FAKE_HINT = ("for tests without a GPU, build the fake NVML (scripts/setup) and set AISYS_FAKE_NVML_CONFIG to a "
              "device file from native/fake-nvml/devices (docs/gpu.md)")


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    used_mib: int | None
    mps: bool  # listed by nvmlDeviceGetMPSComputeRunningProcesses: an MPS client
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


@dataclass(frozen=True)
class MigProfile:
    id: int  # NVML's NVML_GPU_INSTANCE_PROFILE_* index
    name: str  # e.g. "3g.40gb", what nvidia-smi mig -cgi accepts
    slices: int
    instances: int  # how many of this profile the GPU can hold at most
    memory_mib: int


@dataclass(frozen=True)
class MigDevice:
    uuid: str  # MIG-...
    name: str
    profile: str
    gpu_instance_id: int
    compute_instance_id: int
    memory_total_mib: int
    memory_used_mib: int


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    uuid: str
    memory_total_mib: int
    memory_used_mib: int
    compute_mode: str | None
    mig_supported: bool
    mig_current: bool | None
    mig_pending: bool | None
    mig_profiles: tuple[MigProfile, ...] = ()
    mig_devices: tuple[MigDevice, ...] = ()
    processes: tuple[GpuProcess, ...] = ()
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None

    @property
    def label(self) -> str:
        return f"GPU {self.index} ({self.name}, {self.uuid})"

    def profile(self, name: str) -> MigProfile | None:
        return next((p for p in self.mig_profiles if p.name == name), None)


@dataclass(frozen=True)
class GpuHostFacts:
    """The NVML facts of one machine, under the spec host name they were read for."""

    host: str
    driver_version: str
    cuda_version: str  # "12.4"
    devices: tuple[Device, ...]
    source: str = "nvml"  # "nvml" when read live, else the file it was loaded from
    notes: tuple[str, ...] = field(default=())

    def uuids(self) -> dict[str, str]:
        """Every UUID on the host (GPUs and MIG devices) -> what it is."""
        found = {d.uuid: d.label for d in self.devices}
        for d in self.devices:
            found.update({m.uuid: f"MIG {m.profile} on {d.label}" for m in d.mig_devices})
        return found


def _translate(exc: Exception, function: str, where: str) -> NvmlError:
    """The one place an NVMLError becomes ours; the message says what failed, where, and what to do."""
    import pynvml

    code = getattr(exc, "value", None)
    text = f"{function} on {where}: {exc}"
    if code in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED):
        what = ("the NVML library libnvidia-ml.so.1 was not found" if code == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
                else "NVML found no loaded NVIDIA driver")
        fake = os.environ.get(ENV_CONFIG)
        if fake and code == pynvml.NVML_ERROR_DRIVER_NOT_LOADED:  # the fake's answer to a config it cannot read
            return NvmlUnavailable(f"the fake NVML could not read {ENV_CONFIG}={fake} ({text}): point it at a JSON "
                                   "device file such as native/fake-nvml/devices/rtx4090.json", function=function,
                                   code=code, where=where)
        return NvmlUnavailable(f"{what} ({text}): install the NVIDIA driver on this host, or run where one is; "
                               + _FAKE_HINT, function=function, code=code, where=where)
    if code == pynvml.NVML_ERROR_FUNCTION_NOT_FOUND:
        return NvmlError(f"{text}: this NVML library does not have {function} (a driver older than the bindings, "
                         "nvidia-ml-py): update the NVIDIA driver, or pin an older nvidia-ml-py",
                         function=function, code=code, where=where)
    if code == pynvml.NVML_ERROR_NOT_SUPPORTED and "Mig" in function:
        return NvmlError(f"{text}: this GPU does not support MIG (only data-centre parts such as A100, A30, H100, "
                         "H200, B200 do): plan MPS or time-slicing for it instead", function=function, code=code,
                         where=where)
    if code == pynvml.NVML_ERROR_NOT_SUPPORTED:
        return NvmlError(f"{text}: this GPU or driver does not support it", function=function, code=code, where=where)
    if code == pynvml.NVML_ERROR_NO_PERMISSION:
        return NvmlError(f"{text}: permission denied: run as a user allowed to query the GPU (root, or the video "
                         "group)", function=function, code=code, where=where)
    return NvmlError(f"{text}: the NVML call failed", function=function, code=code, where=where)


def call(function: str, *args: Any, where: str = "this host") -> Any:
    """``pynvml.<function>(*args)`` with NVMLError translated; an attribute pynvml lacks is a usage error."""
    import pynvml

    fn: Callable[..., Any] | None = getattr(pynvml, function, None)
    if fn is None:
        raise UsageError(f"pynvml has no function {function}: the installed nvidia-ml-py is too old for it")
    try:
        return fn(*args)
    except pynvml.NVMLError as exc:
        raise _translate(exc, function, where) from exc


def _optional(function: str, *args: Any, where: str) -> Any:
    """A read some GPUs do not support (utilisation on a MIG device, compute mode): None, not an error."""
    import pynvml

    try:
        return getattr(pynvml, function)(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NotFound):
        return None
    except pynvml.NVMLError as exc:
        raise _translate(exc, function, where) from exc


@contextmanager
def nvml(where: str = "this host") -> Iterator[None]:
    """nvmlInit ... nvmlShutdown; the fake library is loaded first when AISYS_FAKE_NVML_CONFIG is set."""
    try:
        import pynvml  # noqa: F401  # nvidia-ml-py: the gpu extra
    except ImportError as exc:
        raise NvmlUnavailable("pynvml is not installed: pip install 'aisys-verify[gpu]' (nvidia-ml-py)",
                              function="import pynvml", where=where) from exc
    preload_if_configured()
    call("nvmlInit", where=where)
    try:
        yield
    finally:
        call("nvmlShutdown", where=where)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _processes(handle: Any, where: str) -> tuple[GpuProcess, ...]:
    found = []
    for function, mps in (("nvmlDeviceGetComputeRunningProcesses", False),
                          ("nvmlDeviceGetMPSComputeRunningProcesses", True)):
        for proc in _optional(function, handle, where=where) or ():
            unset = 0xFFFFFFFF
            gi, ci = getattr(proc, "gpuInstanceId", unset), getattr(proc, "computeInstanceId", unset)
            found.append(GpuProcess(int(proc.pid), None if proc.usedGpuMemory is None else proc.usedGpuMemory // MIB,
                                    mps, None if gi == unset else int(gi), None if ci == unset else int(ci)))
    return tuple(found)


def _mig(handle: Any, where: str) -> tuple[bool, bool | None, bool | None, tuple[MigProfile, ...],
                                           tuple[MigDevice, ...]]:
    import pynvml

    try:
        current, pending = pynvml.nvmlDeviceGetMigMode(handle)
    except pynvml.NVMLError_NotSupported:
        return False, None, None, (), ()  # a GeForce: no MIG at all
    except pynvml.NVMLError as exc:
        raise _translate(exc, "nvmlDeviceGetMigMode", where) from exc
    profiles = []
    for profile_id in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
        try:
            info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, profile_id)
        except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_NotFound, pynvml.NVMLError_InvalidArgument):
            continue  # a profile id this GPU does not have (drivers answer either way)
        except pynvml.NVMLError as exc:
            raise _translate(exc, "nvmlDeviceGetGpuInstanceProfileInfo", where) from exc
        if info is not None:
            profiles.append(MigProfile(profile_id, _text(info.name), int(info.sliceCount), int(info.instanceCount),
                                       int(info.memorySizeMB)))
    devices = []
    if current:
        for index in range(int(call("nvmlDeviceGetMaxMigDeviceCount", handle, where=where))):
            mig = _optional("nvmlDeviceGetMigDeviceHandleByIndex", handle, index, where=where)
            if mig is None:
                continue  # an empty slot
            name = _text(call("nvmlDeviceGetName", mig, where=where))
            memory = call("nvmlDeviceGetMemoryInfo", mig, where=where)
            devices.append(MigDevice(_text(call("nvmlDeviceGetUUID", mig, where=where)), name,
                                     name.rsplit(" MIG ", 1)[-1] if " MIG " in name else "",
                                     int(call("nvmlDeviceGetGpuInstanceId", mig, where=where)),
                                     int(call("nvmlDeviceGetComputeInstanceId", mig, where=where)),
                                     memory.total // MIB, memory.used // MIB))
    return True, bool(current), bool(pending), tuple(profiles), tuple(devices)


def read_device(index: int, where: str = "this host") -> Device:
    """One GPU's facts; call inside ``nvml()``."""
    handle = call("nvmlDeviceGetHandleByIndex", index, where=f"GPU {index} on {where}")
    here = f"GPU {index} on {where}"
    memory = call("nvmlDeviceGetMemoryInfo", handle, where=here)
    mode = _optional("nvmlDeviceGetComputeMode", handle, where=here)
    supported, current, pending, profiles, migs = _mig(handle, here)
    util = _optional("nvmlDeviceGetUtilizationRates", handle, where=here)
    return Device(index, _text(call("nvmlDeviceGetName", handle, where=here)),
                  _text(call("nvmlDeviceGetUUID", handle, where=here)), memory.total // MIB, memory.used // MIB,
                  None if mode is None else COMPUTE_MODES.get(int(mode), str(mode)), supported, current, pending,
                  profiles, migs, _processes(handle, here), None if util is None else int(util.gpu),
                  None if util is None else int(util.memory))


def read_facts(host: str | None = None) -> GpuHostFacts:
    """The NVML facts of this machine, labelled with the spec host name ``host`` (default: the hostname)."""
    name = host or socket.gethostname()
    with nvml(name):
        cuda = int(call("nvmlSystemGetCudaDriverVersion", where=name))
        count = int(call("nvmlDeviceGetCount", where=name))
        return GpuHostFacts(name, _text(call("nvmlSystemGetDriverVersion", where=name)),
                            f"{cuda // 1000}.{cuda % 1000 // 10}", tuple(read_device(i, name) for i in range(count)))


def utilization(index: int = 0, where: str = "this host") -> tuple[int, int]:
    """(GPU %, memory %) of one GPU now: one sample, for gauges sampled during load."""
    with nvml(where):
        handle = call("nvmlDeviceGetHandleByIndex", index, where=where)
        rates = call("nvmlDeviceGetUtilizationRates", handle, where=f"GPU {index} on {where}")
        return int(rates.gpu), int(rates.memory)


def to_json(facts: GpuHostFacts) -> dict[str, Any]:
    return {"format": FACTS_FORMAT, **asdict(facts)}


def from_json(data: Any, source: str) -> GpuHostFacts:
    """Facts saved by ``to_json`` (``aisys-verify gpu facts --save``); a malformed file is a usage error."""
    try:
        if not isinstance(data, dict) or data.get("format") != FACTS_FORMAT:
            raise KeyError("format")
        devices = tuple(Device(**{**d, "mig_profiles": tuple(MigProfile(**p) for p in d["mig_profiles"]),
                                  "mig_devices": tuple(MigDevice(**m) for m in d["mig_devices"]),
                                  "processes": tuple(GpuProcess(**p) for p in d["processes"])})
                        for d in data["devices"])
        return GpuHostFacts(str(data["host"]), str(data["driver_version"]), str(data["cuda_version"]), devices,
                            source, tuple(data.get("notes", ())))
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{source}: not a GPU facts file ({FACTS_FORMAT}; missing or wrong key {exc}): record one "
                         "with 'aisys-verify gpu facts --save FILE'") from exc


def load_facts(path: Path) -> GpuHostFacts:
    try:
        return from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    except OSError as exc:
        raise UsageError(f"GPU facts file '{path}' cannot be read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: GPU facts file is not JSON: {exc.msg}") from exc
