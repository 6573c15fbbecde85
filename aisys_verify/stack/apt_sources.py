"""The host's own apt configuration: which Debian mirror it uses, and through which proxy.

The base image is debootstrapped from the mirror the host's apt already uses (a user behind their own mirror
or proxy expects that), so no mirror host is named here. Read, in apt's order:

* ``/etc/apt/sources.list``, then ``/etc/apt/sources.list.d/*.list`` and ``*.sources`` by file name;
* one-line entries ``deb [option=value ...] URI suite [component ...]`` (``#`` starts a comment);
* deb822 stanzas (blank-line separated; ``Types:``, ``URIs:``, ``Suites:``, ``Components:``, ``Enabled:``;
  ``#`` lines are comments; a line starting with white space continues the field above).

``parse_one_line`` and ``parse_deb822`` never raise: text they do not understand gives no entry.
``pick_archive`` chooses the Debian archive among the enabled ``deb`` entries: only http, https and ftp URIs
(debootstrap and the image builds cannot reach a host's ``file:`` or ``cdrom:`` source), never the
security, updates or backports suites (a ``-`` or ``/`` in the suite) and never a flat repository; among the
rest an entry for the wanted release, else one for any Debian release name, else the first.

``apt_proxies`` reads ``Acquire::http::Proxy "URL";`` and ``Acquire::https::Proxy "URL";`` written on one
line (``/etc/apt/apt.conf.d/*`` by name, then ``/etc/apt/apt.conf``; the last one wins, as in apt). The
nested block form (``Acquire { http { Proxy "URL"; }; };``) is not read: set ``http_proxy`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

APT_ETC = Path("/etc/apt")
# Debian's release names and aliases: an entry for one of them is Debian's archive (or a mirror of it).
DEBIAN_RELEASES = frozenset({
    "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
    "oldoldstable", "oldstable", "stable", "testing", "unstable",
})
MIRROR_SCHEMES = ("http://", "https://", "ftp://")


@dataclass(frozen=True)
class AptSource:
    """One enabled ``deb`` entry: a URI and one suite (a deb822 stanza gives one per URI and suite)."""

    uri: str
    suite: str
    components: tuple[str, ...]
    origin: str  # file:line, for messages

    @property
    def mirror(self) -> str:
        """The URI as a mirror for debootstrap, without a trailing ``/`` (``.../debian/`` is ``.../debian``)."""
        return self.uri.rstrip("/") or self.uri


def parse_one_line(text: str, origin: str = "sources.list") -> list[AptSource]:
    """The enabled ``deb`` entries of a one-line style file (``deb-src`` and anything unparsable skipped)."""
    found: list[AptSource] = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        rest = words[1:]
        if rest and rest[0].startswith("["):  # [arch=amd64 signed-by=...], possibly spread over words
            while rest and "]" not in rest[0]:
                rest = rest[1:]
            if not rest:
                continue
            tail = rest[0].split("]", 1)[1]
            rest = ([tail] if tail else []) + rest[1:]
        if len(rest) < 2:
            continue
        found.append(AptSource(rest[0], rest[1], tuple(rest[2:]), f"{origin}:{number}"))
    return found


def _stanzas(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    """(first line, fields with lower-case names) of each deb822 stanza; comments dropped, continuations joined."""
    fields: dict[str, str] = {}
    start = 0
    last: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, None
            continue
        if line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            continue
        if not fields:
            start = number
        last = name.strip().lower()
        fields[last] = value.strip()
    if fields:
        yield start, fields


def parse_deb822(text: str, origin: str = "debian.sources") -> list[AptSource]:
    """The enabled ``deb`` entries of a deb822 ``.sources`` file (one per URI and suite)."""
    found: list[AptSource] = []
    for start, fields in _stanzas(text):
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").strip().lower() in ("no", "false", "without", "off", "disable", "0"):
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                found.append(AptSource(uri, suite, components, f"{origin}:{start}"))
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def source_files(etc: Path = APT_ETC) -> list[Path]:
    """The sources files apt reads, in its order: sources.list, then sources.list.d by name."""
    files = [etc / "sources.list"]
    parts = etc / "sources.list.d"
    try:
        files += sorted(path for path in parts.iterdir() if path.suffix in (".list", ".sources"))
    except OSError:
        pass
    return [path for path in files if path.is_file()]


def read_sources(etc: Path = APT_ETC) -> list[AptSource]:
    """Every enabled ``deb`` entry on the host, in apt's order (unreadable files skipped)."""
    found: list[AptSource] = []
    for path in source_files(etc):
        text = _read(path)
        if text is not None:
            parse = parse_deb822 if path.suffix == ".sources" else parse_one_line
            found += parse(text, str(path))
    return found


def _plain(source: AptSource) -> bool:
    """A mirror's main suite: a reachable scheme, not ``-security``/``-updates``/``/updates``, not flat."""
    return source.uri.lower().startswith(MIRROR_SCHEMES) and bool(source.suite) \
        and "-" not in source.suite and "/" not in source.suite and bool(source.components)


def pick_archive(sources: Sequence[AptSource], release: str) -> AptSource | None:
    """The Debian archive among ``sources``: ``release``'s entry, else any Debian release's, else the first plain."""
    plain = [source for source in sources if _plain(source)]
    for wanted in (lambda s: s.suite == release, lambda s: s.suite in DEBIAN_RELEASES, lambda s: True):
        for source in plain:
            if wanted(source):
                return source
    return None


_PROXY = re.compile(r'^\s*Acquire::(https?)::Proxy\s+"([^"]*)"\s*;', re.IGNORECASE | re.MULTILINE)


def _proxy_settings(text: str) -> dict[str, str]:
    """Each proxy setting of one apt.conf text, last one winning; ``""`` where it says none."""
    found: dict[str, str] = {}
    for scheme, value in _PROXY.findall(text):
        value = value.strip()
        found[f"{scheme.lower()}_proxy"] = "" if value.lower() in ("direct", "false") else value
    return found


def parse_proxies(text: str) -> dict[str, str]:
    """``{"http_proxy": URL, "https_proxy": URL}`` from one apt.conf text (``DIRECT``/``false``/empty: none)."""
    return {key: value for key, value in _proxy_settings(text).items() if value}


def apt_proxies(etc: Path = APT_ETC) -> dict[str, str]:
    """The proxies the host's apt is configured with (see the module docstring for what is read)."""
    files: list[Path] = []
    try:
        files = sorted(path for path in (etc / "apt.conf.d").iterdir() if path.is_file())
    except OSError:
        pass
    if (etc / "apt.conf").is_file():
        files.append(etc / "apt.conf")
    found: dict[str, str] = {}
    for path in files:
        text = _read(path)
        if text is not None:
            found.update(_proxy_settings(text))
    return {key: value for key, value in found.items() if value}
