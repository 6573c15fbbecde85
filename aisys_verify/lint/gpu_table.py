"""What each GPU model supports, for the GPU-plan rules.

Sources (read 2026-11-29):
* MIG: NVIDIA Multi-Instance GPU User Guide, "Supported GPUs"
  (docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-gpus.html): MIG exists
  only on the data-centre/professional parts listed there (A100, A30, H100, H20,
  H200, B200, GB200, RTX PRO 6000/5000/4500 Blackwell), with their maximum
  instance counts. No GeForce part supports MIG.
* MPS: CUDA Multi-Process Service documentation: supported on Volta (compute
  capability 7.0) and newer on Linux; both GeForce cards below qualify.
* VRAM and architecture of GeForce parts: NVIDIA product specifications
  (RTX 4090: Ada, 24 GB; RTX 3060: Ampere GA106, 12 GB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuModel:
    name: str
    architecture: str
    vram_gb: float
    mig_max_instances: int  # 0: no MIG
    mps: bool

    @property
    def mig(self) -> bool:
        return self.mig_max_instances > 0


_MIG_GUIDE = "NVIDIA MIG User Guide, Supported GPUs"

GPU_MODELS: tuple[GpuModel, ...] = (
    GpuModel("GeForce RTX 4090", "Ada Lovelace", 24, 0, True),
    GpuModel("GeForce RTX 4080", "Ada Lovelace", 16, 0, True),
    GpuModel("GeForce RTX 3090", "Ampere (GA102)", 24, 0, True),
    GpuModel("GeForce RTX 3060", "Ampere (GA106)", 12, 0, True),
    GpuModel("RTX 6000 Ada", "Ada Lovelace", 48, 0, True),
    GpuModel("L40S", "Ada Lovelace", 48, 0, True),
    GpuModel("L4", "Ada Lovelace", 24, 0, True),
    GpuModel("A10", "Ampere (GA102)", 24, 0, True),
    GpuModel("A30", "Ampere (GA100)", 24, 4, True),
    GpuModel("A100 40GB", "Ampere (GA100)", 40, 7, True),
    GpuModel("A100 80GB", "Ampere (GA100)", 80, 7, True),
    GpuModel("H100", "Hopper (GH100)", 80, 7, True),
    GpuModel("H20", "Hopper (GH100)", 96, 7, True),
    GpuModel("H200", "Hopper (GH100)", 141, 7, True),
    GpuModel("B200", "Blackwell (GB100)", 180, 7, True),
    GpuModel("GB200", "Blackwell (GB100)", 186, 7, True),
    GpuModel("RTX PRO 6000 Blackwell", "Blackwell (GB202)", 96, 4, True),
    GpuModel("RTX PRO 5000 Blackwell", "Blackwell (GB202)", 48, 2, True),
    GpuModel("RTX PRO 4500 Blackwell", "Blackwell (GB203)", 32, 2, True),
)
SOURCES = (_MIG_GUIDE, "CUDA MPS documentation", "NVIDIA product specifications")


def _norm(text: str) -> str:
    text = re.sub(r"\b(nvidia|geforce|tesla)\b", "", text.lower())
    return re.sub(r"[^a-z0-9]", "", text)


def lookup(name: str) -> GpuModel | None:
    """Find a model by a loose name: 'RTX_4090', 'NVIDIA GeForce RTX 4090' and 'rtx-4090' all match."""
    key = _norm(name)
    if not key:
        return None
    exact = [m for m in GPU_MODELS if _norm(m.name) == key]
    if exact:
        return exact[0]
    # 'NVIDIA H200 NVL', 'H100-SXM5-80GB': longest model name contained in the given one
    partial = sorted((m for m in GPU_MODELS if _norm(m.name) in key), key=lambda m: -len(_norm(m.name)))
    return partial[0] if partial else None
