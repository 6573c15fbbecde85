"""The manifest on its own: it reads back as written, and any edit to any field is caught by its own hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.backup import BackupInvalid, FileEntry, Manifest, StoreEntry, read_manifest
from aisys_verify.backup.manifest import MANIFEST, write_manifest
from aisys_verify.cli import main

pytestmark = pytest.mark.backup

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
stores = st.builds(StoreEntry, names, st.sampled_from(["redis", "sqlite", "files"]), names,
                   st.lists(names, max_size=3).map(tuple),
                   st.fixed_dictionaries({"count": st.integers(0, 10**9), "sha256": hexes}),
                   st.none() | st.integers(0, 2**53), names)
manifests = st.builds(Manifest, names, st.floats(0, 2e9), st.lists(stores, max_size=4).map(tuple),
                      st.lists(st.builds(FileEntry, names, st.integers(0, 2**40), hexes), max_size=4).map(tuple),
                      started=st.floats(0, 2e9))


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifests)
def test_a_manifest_reads_back_as_written(tmp_path: Path, manifest: Manifest) -> None:
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest


def _leaves(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifests.filter(lambda m: bool(m.stores and m.files)), st.data())
def test_editing_any_field_by_hand_is_caught(tmp_path: Path, manifest: Manifest, data: st.DataObject) -> None:
    write_manifest(tmp_path, manifest)
    raw = json.loads((tmp_path / MANIFEST).read_text())
    path = data.draw(st.sampled_from([p for p in _leaves(raw) if p[0] not in ("manifest_sha256", "format")]))
    node = raw
    for key in path[:-1]:
        node = node[key]
    old = node[path[-1]]
    node[path[-1]] = (old + 1 if isinstance(old, (int, float)) and not isinstance(old, bool)
                      else 7 if old is None else str(old) + "x")
    (tmp_path / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(BackupInvalid) as caught:
        read_manifest(tmp_path)
    assert caught.value.problems[0][0] == MANIFEST


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backup", "create", "no-such-stack", str(tmp_path / "b")]) == 2
    assert "no running stack 'no-such-stack'" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["backup", "restore", str(tmp_path), str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["backup", "list", str(tmp_path)]) == 0
    assert "no backups under" in capsys.readouterr().out
    assert main(["backup", "verify", str(tmp_path)]) == 1  # no manifest: not a backup
    assert "manifest.json: missing" in capsys.readouterr().out
