"""Environment preparation, secret detection and redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.errors import MalformedVar
from hybridcore.packer.secrets import (
    REDACTED,
    Redactor,
    Secret,
    parse_var_assignment,
    prepare_env,
    render_value,
    secret_values,
    split_vars,
)


def test_prepare_env_is_fresh_and_records_names_only(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "HOME": "/root"}
    prepared = prepare_env(base, hybridcore_env="prod", log_path=tmp_path / "log", tmpdir=tmp_path / "tmp",
                           secret_vars={"pw": "s3cret-pw"}, cache_dir=tmp_path / "cache")
    assert base == {"PATH": "/bin", "HOME": "/root"}  # never mutated
    env = prepared.env
    assert env["PACKER_LOG"] == "1" and env["PACKER_LOG_PATH"] == str(tmp_path / "log")
    assert env["HYBRIDCORE_ENV"] == "prod" and env["CHECKPOINT_DISABLE"] == "1"
    assert env["PACKER_NO_COLOR"] == "1" and env["PKR_VAR_pw"] == "s3cret-pw"
    assert env["PACKER_CACHE_DIR"] == str(tmp_path / "cache") and env["TMPDIR"] == str(tmp_path / "tmp")
    assert "PKR_VAR_pw" in prepared.set_names
    assert "s3cret-pw" not in json.dumps(prepared.set_names)


def test_split_vars_routes_secrets_and_sensitive_names() -> None:
    split = split_vars({"region": "dc1", "pw": Secret("x1"), "token": "plain-but-sensitive", "n": 3,
                        "tags": ["a", "b"], "flag": True}, sensitive={"token"})
    assert split.plain == {"flag": "true", "n": "3", "region": "dc1", "tags": '["a", "b"]'}
    assert split.secret == {"pw": "x1", "token": "plain-but-sensitive"}
    assert list(split.plain) == sorted(split.plain)


def test_secret_never_prints() -> None:
    s = Secret("hunter22")
    assert "hunter22" not in repr(s) and "hunter22" not in str(s) and "hunter22" not in f"{s}"
    assert s.reveal() == "hunter22" and render_value(s) == "hunter22"
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]


def test_secret_values_from_env_defaults_and_secret_names() -> None:
    split = split_vars({"pw": Secret("explicit-1")}, sensitive=())
    env = {"MY_PW_SOURCE": "from-env-default", "AWS_SECRET_ACCESS_KEY": "AKIAsecretvalue", "KEY_ID": "no",
           "PATH": "/usr/bin", "GITHUB_TOKEN": "ghp_abcdef"}
    values = secret_values(split, env, env_defaults=["MY_PW_SOURCE"])
    assert {"explicit-1", "from-env-default", "AKIAsecretvalue", "ghp_abcdef"} <= values
    assert "no" not in values and "/usr/bin" not in values


def test_redactor_covers_machine_readable_and_json_encodings() -> None:
    secret = "pa,ss\nword\"x"
    r = Redactor([secret])
    machine = "1700,,ui,message,pw pa%!(PACKER_COMMA)ss\\nword\"x end"
    assert REDACTED in r(machine) and "pa%!(PACKER_COMMA)ss" not in r(machine)
    assert secret not in r(f"raw {secret}")
    assert json.dumps(secret)[1:-1] not in r(json.dumps({"v": secret}))


def test_redactor_multiline_secret_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    r = Redactor([key])
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in r("line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")


def test_redactor_value_walks_structures() -> None:
    r = Redactor(["topsecret"])
    out = r.value({"a": ["x topsecret y", {"topsecret": 1}], "n": 2})
    assert "topsecret" not in json.dumps(out) and out["n"] == 2


@given(st.text(min_size=1, max_size=30), st.text(max_size=60), st.text(max_size=60))
def test_redactor_never_lets_a_secret_through(secret: str, before: str, after: str) -> None:
    r = Redactor([secret])
    assert secret not in r(before + secret + after) or secret in REDACTED


@pytest.mark.parametrize("text", ["novalue", "=x", "bad name=1", "", "1abc=2"])
def test_malformed_var_assignments(text: str) -> None:
    with pytest.raises(MalformedVar) as info:
        parse_var_assignment(text)
    assert info.value.hint


def test_var_assignment_keeps_equals_in_value() -> None:
    assert parse_var_assignment("url=http://x/?a=b") == ("url", "http://x/?a=b")
