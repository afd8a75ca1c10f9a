from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.packer.machine_readable import (
    PACKER_COMMA,
    ArtifactCollector,
    MachineLine,
    RawArtifact,
    parse_line,
    ui_text,
    unescape,
)

pytestmark = pytest.mark.unit

C = PACKER_COMMA


def feed_all(text: str) -> ArtifactCollector:
    collector = ArtifactCollector()
    for line in text.splitlines(keepends=True):
        ml = parse_line(line)
        if ml is not None:
            collector.feed(ml)
    return collector


# --- lines ------------------------------------------------------------------------------------------


def test_parse_line_fields() -> None:
    ml = parse_line("1609459200,null.basic,artifact,0,builder-id,fnoeding.null\n")
    assert ml == MachineLine(1609459200, "null.basic", "artifact", ("0", "builder-id", "fnoeding.null"))


def test_comma_and_newline_unescaping() -> None:
    ml = parse_line(f"1,,ui,say,a{C} b\\nc\\r\\nd\r\n")
    assert ml is not None
    assert ml.data == ("say", "a, b\nc\r\nd")
    assert ui_text(ml) == "a, b\nc\r\nd"
    assert unescape(f"x{C}{C}y") == "x,,y"


def test_real_commas_split_fields() -> None:
    # Only escaped commas belong to a value; a raw comma starts a new field.
    ml = parse_line("1,t,artifact,0,file,3,out/a.txt")
    assert ml is not None
    assert ml.data == ("0", "file", "3", "out/a.txt")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\n",
        "==> null.basic: plain UI text, with commas",
        "2021/01/01 12:00:00 [INFO] Packer version: 1.6.6",
        "abc,t,ui,say,x",
        "1,t",
        "-1,t,ui,say,x",
        " 1,t,ui,say,x",
    ],
)
def test_non_machine_lines_are_none(line: str) -> None:
    assert parse_line(line) is None


def test_empty_target_and_empty_data() -> None:
    ml = parse_line("5,,ui")
    assert ml == MachineLine(5, "", "ui", ())
    assert ui_text(ml) is None


def test_ui_text_of_an_error_line() -> None:
    err = parse_line("1,,ui,error,Build 'x' errored: boom")
    assert err is not None
    assert ui_text(err) == "Build 'x' errored: boom"
    other = parse_line("1,x,error,boom")
    assert other is not None
    assert ui_text(other) is None  # not a ui line


@given(st.text())
def test_unescape_leaves_plain_text_alone(text: str) -> None:
    if "\\" not in text and "%!(" not in text:
        assert unescape(text) == text


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_parse_line_never_raises_on_ascii(text: str) -> None:
    parse_line(text)


def test_parse_line_non_ascii_digit_timestamp() -> None:
    assert parse_line("\u00b2,t,ui,say,x") is None


def test_backslashes_in_artifact_fields_are_kept_as_printed() -> None:
    # Packer does not escape backslashes, so "\\n" in data is ambiguous. In artifact fields a path is
    # far likelier than a line break: C:\\new stays C:\\new; in ui text it is still a newline.
    ml = parse_line("1,t,artifact,0,file,0,C:\\new\\disk%!(PACKER_COMMA)1.vhd")
    assert ml is not None
    assert ml.data[-1] == "C:\\new\\disk,1.vhd"
    ui = parse_line("1,t,ui,say,two\\nlines")
    assert ui is not None and ui.data[-1] == "two\nlines"


# --- artifacts --------------------------------------------------------------------------------------

REAL_FILE = """\
1795824330,,ui,say,Build 'file.motd' finished after 1 millisecond 413 microseconds.
1795824330,file.motd,artifact-count,1
1795824330,file.motd,artifact,0,builder-id,packer.file
1795824330,file.motd,artifact,0,id,File
1795824330,file.motd,artifact,0,string,Stored file: out/with%!(PACKER_COMMA)comma.txt
1795824330,file.motd,artifact,0,files-count,1
1795824330,file.motd,artifact,0,file,0,out/with%!(PACKER_COMMA)comma.txt
1795824330,file.motd,artifact,0,end
1795824330,,ui,say,--> file.motd: Stored file: out/with%!(PACKER_COMMA)comma.txt
"""


def test_single_artifact_with_file() -> None:
    collector = feed_all(REAL_FILE)
    assert collector.artifacts == [
        RawArtifact(
            build_name="file.motd",
            index=0,
            builder_id="packer.file",
            id="File",
            string="Stored file: out/with,comma.txt",
            files=("out/with,comma.txt",),
            timestamp=1795824330,
        )
    ]


def test_feed_returns_the_artifact_on_end_only() -> None:
    collector = ArtifactCollector()
    results = [collector.feed(ml) for ml in map(parse_line, REAL_FILE.splitlines()) if ml is not None]
    assert results[:-2] == [None] * (len(results) - 2)
    assert results[-2] == collector.artifacts[0]
    assert results[-1] is None


def test_multi_artifact_assembly_interleaved_builds() -> None:
    # Two builds, two artifacts each (builder + post-processor); lines of different artifacts interleave.
    text = "\n".join(
        [
            "10,b1,artifact,0,builder-id,packer.docker",
            "11,b2,artifact,0,builder-id,transcend.qemu",
            "12,b1,artifact,0,id,sha256:aa",
            "12,b2,artifact,0,id,VM",
            "12,b2,artifact,0,files-count,2",
            "13,b2,artifact,0,file,1,out/disk-2.qcow2",
            "13,b2,artifact,0,file,0,out/disk-1.qcow2",
            "14,b1,artifact,1,builder-id,packer.post-processor.docker-tag",
            "14,b1,artifact,1,id,repo/app:1",
            "15,b1,artifact,0,end",
            "15,b1,artifact,1,end",
            "16,b2,artifact,0,end",
        ]
    )
    collector = feed_all(text)
    assert [(a.build_name, a.index, a.builder_id, a.id) for a in collector.artifacts] == [
        ("b1", 0, "packer.docker", "sha256:aa"),
        ("b1", 1, "packer.post-processor.docker-tag", "repo/app:1"),
        ("b2", 0, "transcend.qemu", "VM"),
    ]
    # Files ordered by their index, not by arrival; timestamp is the artifact's first line.
    assert collector.artifacts[2].files == ("out/disk-1.qcow2", "out/disk-2.qcow2")
    assert collector.artifacts[2].timestamp == 11


def test_same_index_in_a_later_run_starts_fresh() -> None:
    collector = feed_all("1,b,artifact,0,id,A\n2,b,artifact,0,end\n3,b,artifact,0,id,B\n4,b,artifact,0,end\n")
    assert [a.id for a in collector.artifacts] == ["A", "B"]
    assert collector.artifacts[1].timestamp == 3


def test_artifact_without_end_is_not_reported() -> None:
    assert feed_all("1,b,artifact,0,builder-id,packer.file\n1,b,artifact,0,id,File\n").artifacts == []


def test_nil_artifact_yields_an_empty_record() -> None:
    # Packer prints "<i>,nil" then "<i>,end" for a nil artifact; the collector keeps an empty record.
    (art,) = feed_all("1,b,artifact,0,nil\n1,b,artifact,0,end\n").artifacts
    assert (art.builder_id, art.id, art.string, art.files) == ("", "", "", ())


def test_empty_id_and_string() -> None:
    (art,) = feed_all("1,b,artifact,0,id,\n1,b,artifact,0,string,\n1,b,artifact,0,end\n").artifacts
    assert art.id == ""
    assert art.string == ""


@pytest.mark.parametrize(
    "line",
    [
        "1,b,artifact",
        "1,b,artifact,0",
        "1,b,artifact,x,id,A",
        "1,b,artifact,0,file,x,path",
        "1,b,artifact,0,file,0",
        "1,b,artifact,0,builder-id",
        "1,b,artifact,0,unknown-kind,zzz",
    ],
)
def test_malformed_artifact_lines_are_ignored(line: str) -> None:
    collector = feed_all(line + "\n1,b,artifact,0,id,A\n1,b,artifact,0,end\n")
    assert [(a.id, a.files, a.builder_id) for a in collector.artifacts] == [("A", (), "")]

