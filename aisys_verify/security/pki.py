"""The run's test PKI (public name; the minting lives in aisys_verify.pki_mint, a leaf module the stack
backends import too: stack/ must not import security/, which drives stacks)."""

from __future__ import annotations

from aisys_verify.pki_mint import BAD_CASES as BAD_CASES
from aisys_verify.pki_mint import VALID_DAYS as VALID_DAYS
from aisys_verify.pki_mint import WRONG_HOST as WRONG_HOST
from aisys_verify.pki_mint import Credential as Credential
from aisys_verify.pki_mint import TestPki as TestPki
from aisys_verify.pki_mint import make_pki as make_pki

__all__ = ["BAD_CASES", "VALID_DAYS", "WRONG_HOST", "Credential", "TestPki", "make_pki"]
