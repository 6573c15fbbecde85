"""The host's apt sources and proxy as the base image build reads them (stack/apt_sources.py, images.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.stack.apt_sources import (
    AptSource,
    apt_proxies,
    parse_deb822,
    parse_one_line,
    parse_proxies,
    pick_archive,
    read_sources,
)
from aisys_verify.stack.images import (
    MIRROR_ENV,
    MIRROR_ENV_OLD,
    ImageError,
    base_hash,
    build_proxies,
    resolve_mirror,
)

DEB822 = """\
# the archive, then security
Types: deb deb-src
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: trixie
Components: main
"""


def _uris(sources: list[AptSource]) -> list[tuple[str, str]]:
    return [(source.uri, source.suite) for source in sources]


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV_OLD, raising=False)


def _etc(tmp_path: Path, files: dict[str, str]) -> Path:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "apt.conf.d").mkdir()
    for name, text in files.items():
        (etc / name).write_text(text)
    return etc


def test_deb822_several_stanzas_comments_and_disabled() -> None:
    sources = parse_deb822(DEB822, "debian.sources")
    assert _uris(sources) == [("http://mirror.example/debian/", "bookworm"),
                              ("http://mirror.example/debian/", "bookworm-updates"),
                              ("http://mirror.example/debian-security", "bookworm-security")]
    assert sources[0].components == ("main", "contrib") and sources[0].origin == "debian.sources:2"
    chosen = pick_archive(sources, "bookworm")
    assert chosen is not None and chosen.mirror == "http://mirror.example/debian"


def test_deb822_continuation_lines_and_field_case() -> None:
    text = "types: deb\nuris:\n http://a.example/debian\n http://b.example/debian\nSUITES: trixie\nComponents: main\n"
    assert _uris(parse_deb822(text)) == [("http://a.example/debian", "trixie"), ("http://b.example/debian", "trixie")]


def test_one_line_with_options_comments_and_deb_src() -> None:
    text = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian bookworm main # trailing
deb [ arch=amd64 ] http://spaced.example/debian trixie main
deb [arch=amd64]http://glued.example/debian sid main
deb http://broken.example/debian
"""
    sources = parse_one_line(text, "sources.list")
    assert _uris(sources) == [("http://mirror.example/debian", "bookworm"), ("http://spaced.example/debian", "trixie"),
                              ("http://glued.example/debian", "sid")]
    assert sources[0].origin == "sources.list:3" and sources[0].components == ("main",)


def test_security_updates_backports_and_flat_suites_are_skipped() -> None:
    sources = parse_one_line("""\
deb http://security.example/debian-security bookworm-security main
deb http://security.example/debian-security bookworm/updates main
deb http://mirror.example/debian bookworm-updates main
deb http://mirror.example/debian bookworm-backports main
deb http://flat.example/repo ./
""")
    assert len(sources) == 5 and pick_archive(sources, "bookworm") is None


def test_cdrom_and_file_uris_are_skipped() -> None:
    sources = parse_one_line("""\
deb cdrom:[Debian GNU/Linux 12 _Bookworm_]/ bookworm main
deb file:/srv/mirror/debian bookworm main
deb https://secure.example/debian bookworm main
""")
    chosen = pick_archive(sources, "bookworm")
    assert chosen is not None and chosen.uri == "https://secure.example/debian"


def test_the_wanted_release_then_a_debian_release_then_the_first_plain_entry() -> None:
    third_party = AptSource("https://vendor.example/apt", "nodistro", ("main",), "a")
    other_release = AptSource("http://mirror.example/debian", "trixie", ("main",), "b")
    wanted = AptSource("http://other.example/debian", "bookworm", ("main",), "c")
    assert pick_archive([third_party, other_release, wanted], "bookworm") == wanted
    assert pick_archive([third_party, other_release], "bookworm") == other_release
    assert pick_archive([third_party], "bookworm") == third_party


def test_read_sources_in_apts_order(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {
        "sources.list": "deb http://first.example/debian bookworm main\n",
        "sources.list.d/b.sources": "Types: deb\nURIs: http://third.example/debian\nSuites: bookworm\n"
                                    "Components: main\n",
        "sources.list.d/a.list": "deb http://second.example/debian bookworm main\n",
        "sources.list.d/c.list.save": "deb http://ignored.example/debian bookworm main\n",
    })
    assert [source.uri for source in read_sources(etc)] == ["http://first.example/debian",
                                                            "http://second.example/debian",
                                                            "http://third.example/debian"]


def test_resolve_mirror_from_the_host_then_the_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    etc = _etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert resolve_mirror(None, etc) == ("http://mirror.example/debian", f"{etc}/sources.list.d/debian.sources:2")
    monkeypatch.setenv(MIRROR_ENV_OLD, "http://old.example/debian")
    assert resolve_mirror(None, etc)[0] == "http://old.example/debian"
    monkeypatch.setenv(MIRROR_ENV, "http://env.example/debian")
    assert resolve_mirror(None, etc) == ("http://env.example/debian", f"${MIRROR_ENV}")
    assert resolve_mirror("http://given.example/debian", etc) == ("http://given.example/debian", "given")


def test_nothing_found_is_a_clear_image_error(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": "# nothing\ndeb http://s.example/debian-security bookworm-security main\n"})
    with pytest.raises(ImageError) as caught:
        resolve_mirror(None, etc)
    message = str(caught.value)
    assert "sources.list.d" in message and "--mirror" in message and MIRROR_ENV in message
    assert str(etc / "sources.list") in message
    with pytest.raises(ImageError, match="none there"):
        resolve_mirror(None, tmp_path / "missing")


def test_the_hash_of_a_found_mirror_is_the_hash_of_the_same_url_given() -> None:
    sources = parse_one_line("deb http://mirror.example/debian/ bookworm main\n")
    chosen = pick_archive(sources, "bookworm")
    assert chosen is not None and base_hash(chosen.mirror) == base_hash("http://mirror.example/debian")


def test_proxies_from_apt_conf(tmp_path: Path) -> None:
    assert parse_proxies('Acquire::http::Proxy "http://proxy.example:3128";\n'
                         '// Acquire::https::Proxy "http://commented.example";\n'
                         'Acquire::http::Proxy::local.example "DIRECT";\n') == {"http_proxy": "http://proxy.example:3128"}
    assert parse_proxies('acquire::HTTPS::proxy "http://p.example:8080" ;') == {"https_proxy": "http://p.example:8080"}
    assert parse_proxies('Acquire::http::Proxy "DIRECT";') == {}
    etc = _etc(tmp_path, {"apt.conf.d/01proxy": 'Acquire::http::Proxy "http://early.example:3128";\n',
                          "apt.conf.d/99off": 'Acquire::https::Proxy "http://tls.example:3128";\n',
                          "apt.conf": 'Acquire::http::Proxy "http://late.example:3128";\n'})
    assert apt_proxies(etc) == {"http_proxy": "http://late.example:3128", "https_proxy": "http://tls.example:3128"}
    (etc / "apt.conf").write_text('Acquire::http::Proxy "false";\n')
    assert apt_proxies(etc) == {"https_proxy": "http://tls.example:3128"}
    assert apt_proxies(tmp_path / "missing") == {}


def test_a_build_container_gets_no_loopback_proxy() -> None:
    assert build_proxies({"http_proxy": "http://127.0.0.1:3142", "https_proxy": "http://localhost:3128"}) == {}
    assert build_proxies({"http_proxy": "http://[::1]:3142"}) == {}
    assert build_proxies({"http_proxy": "http://proxy.example:3128", "https_proxy": "proxy.example:3129"}) == {
        "http_proxy": "http://proxy.example:3128", "https_proxy": "proxy.example:3129"}
    assert build_proxies({"http_proxy": "http://[bad"}) == {}


_LINES = st.lists(st.one_of(
    st.text(max_size=40),
    st.sampled_from(["deb", "deb [", "deb ]", "deb [a=b] x", "Types: deb", "URIs:", "Suites: a b", " cont",
                     "Enabled: no", "#", "", ":", "Components:", "deb http://x bookworm main"]),
), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_the_parsers_never_raise_on_arbitrary_text(lines: list[str]) -> None:
    text = "\n".join(lines)
    for sources in (parse_one_line(text), parse_deb822(text)):
        assert all(isinstance(source, AptSource) and source.uri and source.suite for source in sources)
        pick_archive(sources, "bookworm")
    parse_proxies(text)


@settings(max_examples=100, deadline=None)
@given(_LINES)
def test_resolving_raises_only_the_documented_error(tmp_path_factory: pytest.TempPathFactory,
                                                   lines: list[str]) -> None:
    etc = tmp_path_factory.mktemp("apt")
    (etc / "sources.list").write_text("\n".join(lines), errors="surrogatepass")
    try:
        mirror, origin = resolve_mirror(None, etc)
    except ImageError:
        return
    assert mirror and origin.startswith(str(etc))
