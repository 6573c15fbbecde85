"""The watermark read from what the drill's writer sends: add_memory's content as text ("aisys-dr-writer seq N",
as the real MemoryClient sends text), alongside the older {"seq": N} content; other text never counts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.backup.memclient import content_of
from aisys_verify.backup.stores import sqlite_watermark
from aisys_verify.standin.roles.memory import Store


def _store(path: Path, contents: list[object]) -> Path:
    Store(path).close()
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO memories VALUES (?, ?, ?, ?, ?)",
                   [(f"m{i}", "s", "general", json.dumps(c), 1.0e9 + i) for i, c in enumerate(contents)])
    db.commit()
    db.close()
    return path


@settings(max_examples=15, deadline=None)
@given(text_seqs=st.lists(st.integers(0, 10**15), max_size=5), dict_seqs=st.lists(st.integers(0, 10**15), max_size=5),
       noise=st.lists(st.text(max_size=30), max_size=5))
def test_the_watermark_is_the_highest_sequence_written_either_way(text_seqs: list[int],
                                                                 dict_seqs: list[int], noise: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        contents: list[object] = [content_of(s) for s in text_seqs] + [{"seq": s} for s in dict_seqs]
        contents += [n for n in noise if not n.startswith("aisys-dr-writer seq ")]
        path = _store(Path(tmp) / "m.sqlite", contents)
        expected = max([*text_seqs, *dict_seqs], default=None)
        assert sqlite_watermark(path) == expected


def test_text_that_only_looks_like_a_write_does_not_count(tmp_path: Path) -> None:
    path = _store(tmp_path / "m.sqlite", [content_of(7), "aisys-dr-writer seq x99", "seq 500", {"seq": "800"}])
    assert sqlite_watermark(path) == 7
