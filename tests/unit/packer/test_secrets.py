"""Environment preparation, secret detection and redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.errors import ConfigError, MalformedVar
from hybridcore.packer.secrets import (
    PACKER_IDENTIFIERS,
    REDACTED,
    Redactor,
    Secret,
    check_secret,
    check_secrets,
    env_redactor,
    heuristic_secrets,
    named_secrets,
    parse_var_assignment,
    prepare_env,
    render_value,
    secret_texts,
    url_passwords,
)


def test_prepare_env_is_fresh_and_records_names_only(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "HOME": "/root", "HYBRIDCORE_STATE_URL": "postgresql://u:pw-123456@db/x",
            "HYBRIDCORE_ENV": "dev"}
    base["PKR_VAR_region"] = "eu"  # the user's own export is passed on as it is
    prepared = prepare_env(base, hybridcore_env="prod", log_path=tmp_path / "log", tmpdir=tmp_path / "tmp",
                           cache_dir=tmp_path / "cache")
    assert base["HYBRIDCORE_ENV"] == "dev" and len(base) == 5  # never mutated
    # Wrapper-only settings and credentials never reach Packer.
    assert "HYBRIDCORE_STATE_URL" not in prepared.env and prepared.env["PATH"] == "/bin"
    env = prepared.env
    assert env["PACKER_LOG"] == "1" and env["PACKER_LOG_PATH"] == str(tmp_path / "log")
    assert env["HYBRIDCORE_ENV"] == "prod" and env["CHECKPOINT_DISABLE"] == "1"
    assert env["PACKER_NO_COLOR"] == "1" and env["PKR_VAR_region"] == "eu"
    assert env["PACKER_CACHE_DIR"] == str(tmp_path / "cache") and env["TMPDIR"] == str(tmp_path / "tmp")
    # Given values travel in the generated var file: the wrapper sets no PKR_VAR_ of its own.
    assert not [n for n in prepared.set_names if n.startswith("PKR_VAR_")]


def test_secret_texts_cover_leaves_of_lists_and_maps() -> None:
    assert secret_texts(Secret("hunter22")) == {"hunter22"}
    texts = secret_texts({"user": "admin-1", "keys": ["k-one-1", "k-two-2"], "n": 12345, "on": True})
    assert {"admin-1", "k-one-1", "k-two-2", "12345"} <= texts
    assert json.dumps({"keys": ["k-one-1", "k-two-2"], "n": 12345, "on": True, "user": "admin-1"},
                      sort_keys=True) in texts
    assert "True" not in texts and "true" not in texts  # a boolean leaf is not a secret text


def test_secret_never_prints() -> None:
    s = Secret("hunter22")
    assert "hunter22" not in repr(s) and "hunter22" not in str(s) and "hunter22" not in f"{s}"
    assert s.reveal() == "hunter22" and render_value(s) == "hunter22"
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]


def test_env_redactor_takes_declared_values_urls_and_named_values() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "AKIAsecretvalue", "KEY_ID": "no", "PATH": "/usr/bin",
           "GITHUB_TOKEN": "ghp_abcdef", "SSH_PASSWORD": "packer", "DB": "postgresql://u:pw12@h/db"}
    assert named_secrets(env) == {"AKIAsecretvalue", "ghp_abcdef"}
    assert url_passwords(env) == {"pw12"}
    r = env_redactor(env, declared={"explicit-1"})
    for value in ("explicit-1", "AKIAsecretvalue", "ghp_abcdef", "pw12"):
        assert value not in r(f"x {value} y")
    # "packer" is caught only by its name and is shorter than 8: redacting it would wreck records.
    assert r("packer no /usr/bin") == "packer no /usr/bin"


def test_heuristic_values_redact_lines_only_from_eight_characters() -> None:
    # A multi-line value under a secret-looking name: each line is a needle only when 8+ long.
    r = env_redactor({"MY_TOKEN": "abcdefghij\nxyz1\nklmnopqrst"})
    assert r("abcdefghij") == REDACTED and r("klmnopqrst") == REDACTED
    assert r("xyz1") == "xyz1"


@pytest.mark.parametrize(("name", "caught"), [
    ("DB_PASSWORD", True), ("GPG_PASSPHRASE", True), ("SSH_PASS", True), ("PACKER_PW", True),
    ("BASIC_AUTH", True), ("PRIVATE_KEY_PEM", True), ("PWD", False), ("OLDPWD", False),
    ("PASSENGER_COUNT", False), ("AUTHOR_NAME", False), ("HOME", False),
])
def test_secret_name_heuristic(name: str, caught: bool) -> None:
    assert (heuristic_secrets({name: "long-enough-value"}) == {"long-enough-value"}) is caught


def test_url_passwords_in_the_environment_are_secrets() -> None:
    env = {"HYBRIDCORE_STATE_URL": "postgresql://hc:s3cr%40t-pw@db.example/hc",
           "MIRROR": "https://user:abc@mirror.example/", "PLAIN": "https://mirror.example/x:y@z"}
    assert heuristic_secrets(env) == {"s3cr%40t-pw", "s3cr@t-pw"}


@pytest.mark.parametrize("value", ["Q", "QZ", "QZJ", " QZ ", "Q\n", "\tQZ\n", "    "])
def test_declared_secret_too_short_is_refused(value: str) -> None:
    with pytest.raises(MalformedVar) as info:
        check_secret("db_pw", value)
    assert "'db_pw'" in info.value.message and "at least 4" in info.value.message
    assert "Q" not in str(info.value)  # never the value itself
    assert "4+" in info.value.hint and info.value.exit_code == 2


@pytest.mark.parametrize("value", ["", "abcd", "  abcd", "a b c d", Secret("four")])
def test_declared_secret_long_enough_or_empty_is_accepted(value: object) -> None:
    check_secret("pw", value)  # raises on failure


def test_short_secrets_refused_by_every_declared_route() -> None:
    with pytest.raises(ConfigError, match="'api'"):
        check_secrets({"api": "xy"}, what="toml secret", error=ConfigError)
    with pytest.raises(MalformedVar, match="'pw'"):
        check_secrets({"pw": Secret("x1")}, sensitive=())
    with pytest.raises(MalformedVar, match="'token'"):
        check_secrets({"token": "abc"}, sensitive={"token"})
    check_secrets({"region": "eu", "n": 3}, sensitive=())  # plain values may be short


def test_redactor_covers_machine_readable_and_json_encodings() -> None:
    secret = "pa,ss\nword\"x"
    r = Redactor([secret])
    machine = "1700,,ui,message,pw pa%!(PACKER_COMMA)ss\\nword\"x end"
    assert r(machine) == f"1700,,ui,message,pw {REDACTED} end"
    assert r(f"raw {secret}") == f"raw {REDACTED}"
    assert r(json.dumps({"v": secret})) == '{"v": "' + REDACTED + '"}'


@pytest.mark.parametrize(("form", "printed"), [
    ("go jsonencode", "p\\u003cw\\u003e\\u0026d\\u2028\\u00e9!"),
    ("python ensure_ascii", json.dumps("p<w>&d\u2028é!")[1:-1]),
    ("python utf-8", json.dumps("p<w>&d\u2028é!", ensure_ascii=False)[1:-1]),
    ("upper-case hex", "p\\u003Cw\\u003E\\u0026d\\u2028\\u00E9!"),
    ("every char escaped", "".join(f"\\u{ord(c):04x}" for c in "p<w>&d\u2028é!")),
    ("machine-readable json", "p\\u003cw\\u003e\\u0026d\\u2028\\u00e9!"),
    ("python bytes repr", repr("p<w>&d\u2028é!".encode())[2:-1]),
    ("go quoted", "p<w>&d\\u2028\\xe9!"),
])
def test_redactor_covers_escape_forms(form: str, printed: str) -> None:
    r = Redactor(["p<w>&d\u2028é!"])
    assert r(f"1700,file,ui,message,    file: {{\"v\": \"{printed}\"}}") == \
        f'1700,file,ui,message,    file: {{"v": "{REDACTED}"}}', form


def test_redactor_json_inside_machine_readable_and_json_inside_json() -> None:
    r = Redactor(["s3,cr\"et\\pw"])
    inner = json.dumps({"pw": "s3,cr\"et\\pw"})
    assert r("1,b,ui,say," + inner.replace(",", "%!(PACKER_COMMA)")) == \
        '1,b,ui,say,{"pw": "' + REDACTED + '"}'
    # Ansible prints a registered command's stdout (JSON) as a JSON string: escaped twice.
    ansible = json.dumps({"stdout": inner})
    assert "s3" not in r(ansible) and r(ansible).startswith('{"stdout": "{\\"pw\\": \\"')


def test_redactor_multiline_secret_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n  Yz==\n-----END KEY-----"
    r = Redactor([key])
    assert r("line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == f"line: {REDACTED}"
    assert r("    Yz==") == f"    {REDACTED}"
    assert r(f"whole:\n{key}\nafter") == f"whole:\n{REDACTED}\nafter"
    escaped = key.replace("\n", "\\n")
    assert r(f"1,b,ui,error,{escaped} !") == f"1,b,ui,error,{REDACTED} !"
    # Lines of a secret shorter than 4 characters cannot be redacted alone, only in the whole secret.
    short = Redactor(["ab\ncd\nef"])
    assert short("ab") == "ab" and short("x ab\ncd\nef y") == f"x {REDACTED} y"


def test_redactor_refuses_nothing_but_skips_what_it_cannot_redact() -> None:
    r = Redactor(["e", "no", "packer", ""], heuristic=["packer", "abcdefgh"])
    assert r.unredactable == 2  # "e" and "no"; "packer" is a declared secret (4+), the empty one nothing
    assert r("every line keeps its e and its no; packer and abcdefgh go") == \
        f"every line keeps its e and its no; {REDACTED} and {REDACTED} go"
    assert Redactor(heuristic=["packer"]).count == 0


@pytest.mark.parametrize(("secrets", "marker"), [
    (["redacted"], "<hidden>"), (["<red"], "[redacted]"), (["d>ab"], "[redacted]"),
    (["acted]", "<red"], "<hidden>"), (["abc<"], "[redacted]"),
    (["redacted", "hidden", "<***>", "[***]"], "▀▀▀"),
])
def test_marker_never_spells_a_secret(secrets: list[str], marker: str) -> None:
    r = Redactor(secrets)
    assert r.marker == marker
    text = " ".join(s + "Z" + s for s in secrets) + " <redacted> [hidden]"
    out = r(text)
    assert all(s not in out for s in secrets) and r(out) == out


def test_overlapping_and_repeated_secrets_are_redacted_whole() -> None:
    r = Redactor(["abcdef", "defghi"])
    assert r("xabcdefghiy") == f"x{REDACTED}y"
    assert r("abcdef,abcdef abcdefabcdef") == f"{REDACTED},{REDACTED} {REDACTED}"


def test_periodic_secret_overlapping_itself_is_redacted_whole() -> None:
    assert Redactor(["abcabcab"])("xabcabcabcaby") == f"x{REDACTED}y"
    big = Redactor(["ab" * 1600])
    assert big._offsets is None  # too costly to tabulate: the stepwise search is used, same result
    assert big("ab" * 1650 + "!") == f"{REDACTED}!"


def test_redact_record_redacts_values_never_keys() -> None:
    r = Redactor(["topsecret", "null"])
    record = {"topsecret": ["x topsecret y", {"null": "null"}], "n": 2, "ok": True, "none": None,
              "builder_type": "null", "t": ("topsecret",)}
    out = r.redact_record(record, keep=PACKER_IDENTIFIERS)
    assert out == {"topsecret": [f"x {REDACTED} y", {"null": REDACTED}], "n": 2, "ok": True, "none": None,
                   "builder_type": "null", "t": [REDACTED]}
    assert r.value(record)["builder_type"] == REDACTED  # the older name, without keep
    assert list(r.value(record)) == list(record)


def test_redactor_without_secrets_is_identity() -> None:
    r = Redactor()
    assert r.count == 0 and r("any \\u0041 text") == "any \\u0041 text" and r.marker == REDACTED


@given(st.text(min_size=4, max_size=30).filter(lambda s: len(s.strip()) >= 4), st.text(max_size=60),
       st.text(max_size=60))
def test_redactor_never_lets_a_secret_through(secret: str, before: str, after: str) -> None:
    r = Redactor([secret])
    out = r(before + secret + after)
    assert secret not in out and r(out) == out


@pytest.mark.parametrize("text", ["novalue", "=x", "bad name=1", "", "1abc=2"])
def test_malformed_var_assignments(text: str) -> None:
    with pytest.raises(MalformedVar) as info:
        parse_var_assignment(text)
    assert info.value.hint


def test_var_assignment_keeps_equals_in_value() -> None:
    assert parse_var_assignment("url=http://x/?a=b") == ("url", "http://x/?a=b")
