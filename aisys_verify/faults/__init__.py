"""Faults: Toxiproxy's toxics as typed values (more fault kinds and the chaos engine build on these)."""

from aisys_verify.faults.toxics import TOXIC_TYPES, Stream, Toxic, ToxicError

__all__ = ["TOXIC_TYPES", "Stream", "Toxic", "ToxicError"]
