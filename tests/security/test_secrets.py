"""Secrets: the Secret type keeps its value out of every rendering (pytest's own output and JUnit XML
included), and the canary scan finds a planted leak in each place it scans while naming the place
and never the value."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.errors import InvalidValue, SecretLeak
from aisys_verify.security.secrets import Secret, canary, check_no_leaks, scan_files, scan_processes, write_secret_file
from aisys_verify.standin.logs import JsonLog


@pytest.fixture
def secret() -> Secret:
    return canary("redis_password")


def test_secret_never_renders_its_value(secret: Secret) -> None:
    value = secret.reveal()
    assert value.startswith("aisys-canary-redis_password-") and len(value) > 40
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r:>10}", "%s" % (secret,)):  # noqa: UP031
        assert value not in shown
    with pytest.raises(TypeError):
        json.dumps({"password": secret})
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    assert secret == Secret("redis_password", value)
    assert secret != value  # never equal to a str: no comparison can put the value in a diff
    assert canary("redis_password") != secret  # random per call
    with pytest.raises(InvalidValue):
        Secret("empty", "")


def test_a_failing_assertion_on_secrets_leaks_nothing_but_on_a_revealed_one_it_does(
        pytester: pytest.Pytester) -> None:
    planted = canary("token")
    pytester.makepyfile(f"""
        from aisys_verify.security.secrets import Secret
        SECRET = Secret("token", {planted.reveal()!r})

        def test_compare_secrets():
            assert SECRET == Secret("token", "something-else")

        def test_compare_revealed():  # the mutation: the value itself in an assertion
            assert SECRET.reveal() == "something-else"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml", "-k", "compare_secrets")
    result.assert_outcomes(failed=1)
    out = pytester.path / "stdout.txt"
    out.write_text(result.stdout.str())
    check_no_leaks(scan_files([planted], [pytester.path / "junit.xml", out]))
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=junit2.xml", "-k", "compare_revealed")
    result.assert_outcomes(failed=1)
    with pytest.raises(SecretLeak) as caught:
        check_no_leaks(scan_files([planted], [pytester.path / "junit2.xml"]))
    assert caught.value.files == (str(pytester.path / "junit2.xml"),)
    assert planted.reveal() not in str(caught.value)


@pytest.fixture
def process(secret: Secret, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real process given the secret the wrong ways: in its environment and its command line, and a
    child process; plus one given it the right way (a *_FILE path)."""
    path = write_secret_file(secret, tmp_path / "secrets")
    code = ("import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, secret.reveal()],
                            env={"REDIS_PASSWORD": secret.reveal(), "REDIS_PASSWORD_FILE": str(path)})
    time.sleep(0.5)
    yield proc
    proc.kill()
    proc.wait()


def test_process_environ_and_cmdline_leaks_are_found(process: subprocess.Popen[bytes], secret: Secret) -> None:
    leaks = scan_processes([secret], [process.pid])
    places = {leak.place for leak in leaks}
    assert {f"pid {process.pid} environ", f"pid {process.pid} cmdline"} <= places
    assert len([p for p in places if p.endswith("environ")]) == 2  # the child inherited the environment


def test_a_secret_passed_as_a_file_path_is_not_a_leak(secret: Secret, tmp_path: Path) -> None:
    path = write_secret_file(secret, tmp_path / "secrets")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"],
                            env={"REDIS_PASSWORD_FILE": str(path)})
    try:
        time.sleep(0.3)
        assert scan_processes([secret], [proc.pid]) == []
    finally:
        proc.kill()
        proc.wait()


def _agent_log(root: Path, secret: Secret) -> Path:
    path = root / "logs" / "pc2" / "MemoryOrchestratorService.log"
    log = JsonLog("MemoryOrchestratorService", path)  # the stand-ins' own log writer
    log("redis_connect", url=f"redis://:{secret.reveal()}@127.0.0.1:6379/0")  # the mutation: logs its password
    log.stream.close()
    return path


PLACES = {
    "agent_log": _agent_log,
    "work_folder": lambda root, s: _write(root / "work" / "plan.json", json.dumps({"redis_password": s.reveal()})),
    "allure_results": lambda root, s: _write(root / "allure-results" / "0a1b-result.json",
                                             json.dumps({"name": "t", "parameters": [{"value": s.reveal()}]})),
    "junit_xml": lambda root, s: _write(root / "junit.xml", f"<testsuite><system-out>{s.reveal()}</system-out>"
                                                            "</testsuite>"),
    "load_csv": lambda root, s: _write(root / "load" / "run_stats.csv",
                                       f"Type,Name,Request Count\nPOST,/dialogue/process?key={s.reveal()},10\n"),
    "chaos_journal": lambda root, s: _write(root / "reports" / "chaos" / "journal.jsonl",
                                            json.dumps({"event": "fault", "env": {"TOKEN": s.reveal()}}) + "\n"),
    "slo_report": lambda root, s: _write(root / "reports" / "slo" / "report.json",
                                         json.dumps({"slo": "x", "labels": {"auth": s.reveal()}})),
}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_planted_leak_is_found_in_each_place(place: str, tmp_path: Path, secret: Secret) -> None:
    for other in PLACES:  # every place holds a realistic file; only one holds the secret
        if other != place:
            PLACES[other](tmp_path, canary("unrelated")).write_text("clean\n")
    planted = PLACES[place](tmp_path, secret)
    leaks = scan_files([secret, canary("other")], [tmp_path])
    assert [(leak.place, leak.secret) for leak in leaks] == [(str(planted), "redis_password")]
    with pytest.raises(SecretLeak, match=r"1 secret leak\(s\)") as caught:
        check_no_leaks(leaks)
    assert str(planted) in str(caught.value) and secret.reveal() not in str(caught.value)


def test_url_encoded_and_base64_forms_are_found(tmp_path: Path) -> None:
    secret = Secret("p", "pa ss/word+1")
    import base64
    from urllib.parse import quote

    _write(tmp_path / "a.log", f"url={quote(secret.reveal(), safe='')}")
    _write(tmp_path / "b.log", f"basic {base64.b64encode(secret.reveal().encode()).decode()}")
    assert sorted((Path(leak.place).name, leak.form) for leak in scan_files([secret], [tmp_path])) == [
        ("a.log", "url-encoded"), ("b.log", "base64")]


def test_nothing_found_is_no_leak(tmp_path: Path, secret: Secret) -> None:
    _write(tmp_path / "x.log", "nothing here")
    check_no_leaks(scan_files([secret], [tmp_path, tmp_path / "missing"]))


def test_container_inspect_and_logs_leaks_are_found(secret: Secret) -> None:
    """A real container given the secret in its environment (docker inspect shows it) and printing it
    (docker logs); another given only a *_FILE path shows nothing."""
    from aisys_verify.security.secrets import scan_containers

    image = "aisys-verify/base:bookworm"
    if shutil.which("docker") is None or subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                                                        check=False).returncode != 0:
        pytest.skip(f"docker or {image} is missing")
    ids = []
    try:
        leaky = ["-e", f"REDIS_PASSWORD={secret.reveal()}", image, "sh", "-c", 'echo "$REDIS_PASSWORD"; sleep 30']
        for args in (leaky,
                     ["-e", "REDIS_PASSWORD_FILE=/run/secrets/redis", image, "sleep", "30"]):
            proc = subprocess.run(["docker", "run", "-d", "--label", "aisys-sec-test=secrets", *args],
                                  capture_output=True, text=True, check=True, timeout=60)
            ids.append(proc.stdout.strip())
        time.sleep(1.0)
        leaks = scan_containers([secret], ids)
        name = subprocess.run(["docker", "inspect", "--format", "{{.Name}}", ids[0]], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip().lstrip("/")
        assert sorted(leak.place for leak in leaks) == [f"container {name} inspect", f"container {name} logs"]
        assert scan_containers([secret], ids[1:]) == []
        with pytest.raises(SecretLeak) as caught:
            check_no_leaks(leaks)
        assert secret.reveal() not in str(caught.value)
    finally:
        for cid in ids:  # only the containers this test started, by id
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False, timeout=60)


def test_session_end_scan_fails_a_run_that_leaks_into_junit_xml(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_uses_the_canary(aisys_canary):
            assert aisys_canary == aisys_canary

        def test_leaks_it(aisys_canary):
            assert aisys_canary.reveal() == "x"  # the mutation: the value in an assertion message
    """)
    clean = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=clean.xml", "-k", "uses_the_canary")
    assert clean.ret == 0
    assert "secret leak" not in clean.stdout.str()
    leaky = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=leaky.xml")
    assert leaky.ret == pytest.ExitCode.TESTS_FAILED
    leaky.stdout.fnmatch_lines(["*aisys-verify: secret leak*", "*leaky.xml: secret 'redis_password' (plain)*"])
