"""The Chaos Toolkit tests: stack_support's process helpers and this folder's ctk_support on the path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
