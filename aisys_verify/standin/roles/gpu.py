"""GPU workers (vision, speech, reasoning, learning, dream): simulated inference.

Service times come from a configurable distribution (seeded, so runs repeat), with a
concurrency limit like a GPU's; each reply reports the device the worker was given
(CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES, MIG UUIDs included) and, where NVML
is present, the device's real facts (read-only).
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import random
import time
import zlib
from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.roles.base import AgentContext, Role

INFER_ACTIONS = ("infer", "recognize", "transcribe", "synthesize", "reason", "generate", "translate", "train")


def _config_number(config: Any, key: str, default: float) -> float:
    value = config.get(key, default) if hasattr(config, "get") else default
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def device_facts() -> dict[str, Any]:
    return {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "nvidia_visible_devices": os.environ.get("NVIDIA_VISIBLE_DEVICES"), "nvml": nvml_facts()}


@functools.cache
def nvml_facts() -> dict[str, Any] | str:
    """The device's NVML facts, read once per process (the launcher reads them before forking): an import
    attempt and nvmlInit per GPU agent were ~2 % of a large stack's stand-up CPU, and they never change."""
    try:
        import pynvml  # optional: nvidia-ml-py (the gpu extra)
    except ImportError:
        return "not installed"
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            return {"name": pynvml.nvmlDeviceGetName(handle), "memory_total": memory.total}
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # no driver, no GPU: say so instead of failing
        return f"unavailable: {type(exc).__name__}"


class GpuRole(Role):
    name = "gpu"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        config = ctx.agent.config.get("standin", {})
        self.median_ms = _config_number(config, "service_time_ms", 20.0)
        self.sigma = _config_number(config, "service_time_sigma", 0.5)  # lognormal shape
        self.limit = max(1, int(_config_number(config, "max_concurrency", 1)))
        self.semaphore = asyncio.Semaphore(self.limit)
        self.rng = random.Random(zlib.crc32(ctx.agent.key.encode()))
        self.device = device_facts()
        self.in_flight = 0
        for action in INFER_ACTIONS:
            self.actions[action] = self.infer
        self.actions["model_status"] = self.model_status

    def service_time_s(self) -> float:
        return self.median_ms / 1000 * math.exp(self.rng.gauss(0, self.sigma))

    async def infer(self, request: protocol.Request) -> dict[str, Any]:
        queued = time.perf_counter()
        async with self.semaphore:
            waited = time.perf_counter() - queued
            self.in_flight += 1
            try:
                service = self.service_time_s()
                await asyncio.sleep(service)
            finally:
                self.in_flight -= 1
        payload = request.body.get("input", request.body.get("text", ""))
        size = len(payload) if isinstance(payload, (str, list, dict)) else 0
        self.ctx.metrics.count("ai_model_inference_total", status="success")
        return protocol.success(agent=self.ctx.agent.name, action=request.action, output=f"{request.action}:{size}",
                                service_time_ms=round(service * 1000, 3), queue_ms=round(waited * 1000, 3),
                                device=self.device)

    async def model_status(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(in_flight=self.in_flight, max_concurrency=self.limit, device=self.device,
                                service_time_median_ms=self.median_ms)
