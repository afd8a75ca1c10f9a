"""The registry's state on both backends: promote to channels, revoke, latest, history (who, when)."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcore.errors import StateError
from hybridcore.state import StateStore, UnknownArtifact

pytestmark = pytest.mark.unit


def _record(build_id: str, target: str = "vsphere", platform: str | None = "vsphere",
            region: str | None = "dc1", env: str = "dev") -> dict[str, Any]:
    return {"build_id": build_id, "target": target, "platform": platform, "region": region,
            "image_ids": [f"img-{build_id}"], "schema_version": 1,
            "provenance": {"command_id": f"C{build_id}", "env": env, "finished_at": "2026-01-01T00:00:00+00:00"}}


@pytest.fixture
def filled(store: StateStore) -> StateStore:
    for build_id, kw in (("01A", {}), ("01B", {"region": "dc2"}), ("01C", {}), ("01D", {"platform": "aws"}),
                         ("01E", {"target": "azure", "platform": "azure", "region": "westeurope"}),
                         ("01F", {"env": "prod"})):
        store.record_artifact(_record(build_id, **kw))
    return store


def _ids(store: StateStore, **filters: Any) -> str | None:
    found = store.latest_artifact("vsphere", **filters)
    return None if found is None else str(found["build_id"])


def test_latest_is_the_newest_matching_record(filled: StateStore) -> None:
    assert _ids(filled) == "01F"
    assert _ids(filled, env="dev") == "01D"
    assert _ids(filled, platform="vsphere", env="dev") == "01C"
    assert _ids(filled, region="dc2") == "01B"
    assert _ids(filled, platform="vsphere", region="dc3") is None
    assert filled.latest_artifact("azure", region="westeurope")["image_ids"] == ["img-01E"]  # type: ignore[index]
    assert filled.latest_artifact("nope") is None


def test_channels_and_latest_per_channel(filled: StateStore) -> None:
    assert _ids(filled, channel="prod") is None  # nothing promoted yet
    event = filled.promote("01A", "prod", who="alice@ws1")
    assert (event["build_id"], event["action"], event["channel"], event["who"]) == ("01A", "promote", "prod",
                                                                                   "alice@ws1")
    assert event["at"].endswith("+00:00")
    filled.promote("01C", "staging", who="ci")
    filled.promote("01A", "staging", who="ci")
    assert _ids(filled, channel="prod") == "01A"
    assert _ids(filled, channel="staging") == "01C"
    assert _ids(filled, channel="staging", region="dc1", platform="vsphere") == "01C"
    assert filled.channels_of("01A") == ["prod", "staging"]
    assert filled.channels_of("01B") == []
    # Promoting again is idempotent: the first event stands, nothing new in the history.
    again = filled.promote("01A", "prod", who="bob")
    assert again == event
    assert [(e["action"], e["channel"], e["who"]) for e in filled.artifact_history("01A")] == [
        ("promote", "prod", "alice@ws1"), ("promote", "staging", "ci")]


def test_revoked_record_is_never_latest(filled: StateStore) -> None:
    filled.promote("01C", "prod", who="ci")
    filled.promote("01A", "prod", who="ci")
    assert _ids(filled, channel="prod") == "01C"
    event = filled.revoke("01C", "CVE-2026-0001 in the base image", who="sec-team")
    assert (event["action"], event["reason"], event["who"]) == ("revoke", "CVE-2026-0001 in the base image",
                                                                "sec-team")
    assert _ids(filled, channel="prod") == "01A"
    assert _ids(filled, platform="vsphere", region="dc1", env="dev") == "01A"  # 01C answers no query now
    assert filled.channels_of("01C") == []
    assert filled.revocation_of("01C") == event
    assert filled.revocation_of("01A") is None
    assert filled.revoke("01C", "again", who="x") == event  # idempotent
    with pytest.raises(StateError, match="revoked") as info:
        filled.promote("01C", "staging", who="ci")
    assert "sec-team" in str(info.value)
    history = filled.artifact_history("01C")
    assert [e["action"] for e in history] == ["promote", "revoke"]
    assert history[0]["at"] <= history[1]["at"]
    # The record itself is kept (never deleted), and still shown.
    assert filled.get_artifact("01C")["image_ids"] == ["img-01C"]  # type: ignore[index]


def test_ids_by_prefix_and_refusals(filled: StateStore) -> None:
    filled.record_artifact(_record("01JQ7ZXW"))
    assert filled.promote("01JQ", "prod", who="ci")["build_id"] == "01JQ7ZXW"
    assert filled.channels_of("01JQ") == ["prod"]
    assert filled.artifact_history("01jq7")[0]["build_id"] == "01JQ7ZXW"  # ids are typed: case ignored
    with pytest.raises(UnknownArtifact):
        filled.promote("zzz", "prod", who="ci")
    with pytest.raises(UnknownArtifact):
        filled.revoke("zzz", "why", who="ci")
    with pytest.raises(StateError, match="ambiguous"):
        filled.promote("01", "prod", who="ci")
    with pytest.raises(ValueError, match="channel"):
        filled.promote("01A", "has space", who="ci")
    with pytest.raises(ValueError, match="who"):
        filled.promote("01A", "prod", who=" ")
    with pytest.raises(ValueError, match="reason"):
        filled.revoke("01A", "", who="ci")
    assert filled.artifact_history("01A") == []  # refusals wrote nothing
    assert filled.artifact_history("unknown") == []
