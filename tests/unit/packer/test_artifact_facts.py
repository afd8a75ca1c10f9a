from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridcore.packer.artifact_facts import (
    BUILDER_IDS,
    BUILDER_PARSERS,
    ArtifactFacts,
    builder_type_for,
    describe,
)
from hybridcore.packer.machine_readable import RawArtifact

pytestmark = pytest.mark.unit

SUB = "/subscriptions/0b5c8e4e-7d1a-4f3b-9c2e-1a2b3c4d5e6f"
MANAGED = f"{SUB}/resourceGroups/rg-images/providers/Microsoft.Compute/images/img-1"
SIG = f"{SUB}/resourceGroups/rg-gal/providers/Microsoft.Compute/galleries/gal/images/def/versions/1.2.3"


def raw(builder_id: str = "", id: str = "", string: str = "", files: tuple[str, ...] = (),
        build_name: str = "") -> RawArtifact:
    return RawArtifact(build_name, 0, builder_id, id, string, files, 1)


# --- ArtifactFacts ----------------------------------------------------------------------------------


def test_the_build_name_is_kept_and_never_becomes_the_builder_type(tmp_path: Any) -> None:
    from hybridcore.packer.templates import analyze

    (tmp_path / "t.pkr.hcl").write_text(
        'source "file" "rootfs" {\n  content = "x"\n  target = "out.img"\n}\n'
        'build {\n  name = "ubuntu"\n  source "source.file.rootfs" {\n    name = "app"\n  }\n}\n')
    info = analyze(tmp_path)
    art = raw("packer.file", "File", files=("out.img",), build_name="ubuntu.file.app")
    facts = describe(art, info.builder_type(art.build_name), info.source_attrs(art.build_name))
    assert (info.builder_type(art.build_name), facts.platform, facts.image_ids) == ("file", "local", ("out.img",))
    assert facts.build_name == "ubuntu.file.app" and facts.to_dict()["build_name"] == "ubuntu.file.app"


def test_facts_are_frozen_hashable_and_extra_is_read_only() -> None:
    facts = ArtifactFacts("aws", "us-east-1", ("ami-1",), {"b": "2", "a": "1"})
    assert hash(facts) == hash(ArtifactFacts("aws", "us-east-1", ("ami-1",), {"a": "1", "b": "2"}))
    assert facts == ArtifactFacts("aws", "us-east-1", ("ami-1",), {"a": "1", "b": "2"})
    assert list(facts.extra) == ["a", "b"]
    with pytest.raises(TypeError):
        facts.extra["c"] = "3"  # type: ignore[index]
    with pytest.raises(AttributeError):
        facts.region = "x"  # type: ignore[misc]
    assert facts.to_dict() == {
        "platform": "aws",
        "region": "us-east-1",
        "image_ids": ["ami-1"],
        "extra": {"a": "1", "b": "2"},
        "build_name": "",
    }


# --- builder ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder_id", "builder_type"),
    [
        ("mitchellh.amazonebs", "amazon-ebs"),
        ("mitchellh.amazon.chroot", "amazon-chroot"),
        ("Azure.ResourceManagement.VMImage", "azure-arm"),
        ("jetbrains.vsphere", "vsphere-iso"),
        ("vmware.vsphere", "vsphere-iso"),
        ("transcend.qemu", "qemu"),
        ("packer.file", "file"),
        ("fnoeding.null", "null"),
        ("packer.googlecompute", "googlecompute"),
        ("packer.docker", "docker"),
        ("no.such.builder", ""),
    ],
)
def test_builder_ids(builder_id: str, builder_type: str) -> None:
    assert builder_type_for(builder_id) == builder_type


def test_every_known_builder_id_has_a_parser() -> None:
    assert set(BUILDER_IDS.values()) <= set(BUILDER_PARSERS)


# --- amazon -----------------------------------------------------------------------------------------


def test_amazon_single_region() -> None:
    facts = describe(raw("mitchellh.amazonebs", "us-east-1:ami-0c2b8ca1"), "amazon-ebs", {})
    assert facts == ArtifactFacts("aws", "us-east-1", ("ami-0c2b8ca1",), {"regions": "us-east-1"})


def test_amazon_multi_region_prefers_template_region_over_sorted_first() -> None:
    art = raw("mitchellh.amazonebs", "eu-west-1:ami-2,us-east-1:ami-1,us-west-2:ami-3")
    facts = describe(art, "amazon-ebs", {"region": '"us-east-1"'})
    assert facts.region == "us-east-1"
    assert facts.image_ids == ("ami-2", "ami-1", "ami-3")
    assert facts.extra["regions"] == "eu-west-1,us-east-1,us-west-2"
    # Without a usable template region Packer's (sorted) first region is taken.
    assert describe(art, "amazon-ebs", {"region": "${local.r}"}).region == "eu-west-1"


def test_amazon_region_resolved_from_vars() -> None:
    art = raw("mitchellh.amazonebs", "eu-west-1:ami-2,us-east-1:ami-1")
    src = {"region": "${var.r}", "__vars__": {"r": "us-east-1"}}
    assert describe(art, "amazon-ebs", src).region == "us-east-1"


@pytest.mark.parametrize("builder_type", ["amazon-ebssurrogate", "amazon-instance", "amazon-chroot"])
def test_amazon_variants(builder_type: str) -> None:
    assert describe(raw("", "ap-south-1:ami-9"), builder_type, {}).image_ids == ("ami-9",)


def test_amazon_odd_ids() -> None:
    assert describe(raw("mitchellh.amazonebs", ""), "amazon-ebs", {"region": "us-east-1"}) == ArtifactFacts(
        "aws", "us-east-1", ()
    )
    assert describe(raw("", "ami-1,, :x"), "amazon-ebs", {}).image_ids == ("ami-1", ":x")


# --- azure ------------------------------------------------------------------------------------------


def test_azure_managed_image_1_6_6_string() -> None:
    string = (
        "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nManagedImageResourceGroupName: rg-images\n"
        f"ManagedImageName: img-1\nManagedImageId: {MANAGED}\nManagedImageLocation: westeurope\n"
    )
    facts = describe(raw("Azure.ResourceManagement.VMImage", MANAGED, string), "azure-arm", {})
    assert facts.platform == "azure"
    assert facts.region == "westeurope"
    assert facts.image_ids == (MANAGED,)
    assert facts.extra["managed_image_resource_group"] == "rg-images"
    assert facts.extra["managed_image_name"] == "img-1"


def test_azure_managed_image_and_sig_in_1_6_6_lists_both() -> None:
    # 1.6.6 returns the managed image as Id() and prints the gallery version only in String().
    string = f"x:\n\nManagedImageId: {MANAGED}\nManagedImageSharedImageGalleryId: {SIG}\n"
    facts = describe(raw("", MANAGED, string), "azure-arm", {"location": "northeurope"})
    assert facts.image_ids == (MANAGED, SIG)
    assert facts.region == "northeurope"
    assert facts.extra["gallery"] == "gal"
    assert facts.extra["gallery_image"] == "def"
    assert facts.extra["gallery_image_version"] == "1.2.3"


def test_azure_sig_region_from_template_replication_regions() -> None:
    src: dict[str, Any] = {
        "build_resource_group_name": "rg-build",
        "shared_image_gallery_destination": [{"replication_regions": ["${var.primary}", '"uksouth"']}],
        "__vars__": {"primary": "westus2"},
    }
    facts = describe(raw("", SIG, "x:\n\nOSType: Windows\n"), "azure-arm", src)
    assert facts.region == "westus2"
    assert facts.extra["replication_regions"] == "westus2,uksouth"


def test_azure_build_resource_group_without_location_leaves_region_unknown() -> None:
    facts = describe(raw("", MANAGED, ""), "azure-arm", {"build_resource_group_name": "rg"})
    assert facts.region is None
    assert facts.extra["managed_image_name"] == "img-1"  # taken from the resource id


def test_azure_unresolved_location_is_unknown() -> None:
    src = {"location": "${var.location}", "__vars__": {}}
    assert describe(raw("", MANAGED, ""), "azure-arm", src).region is None


def test_azure_vhd_never_copies_sas_urls() -> None:
    vhd = "https://acct.blob.core.windows.net/system/Microsoft.Compute/Images/images/packer-osDisk.1.vhd"
    string = (
        "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nStorageAccountLocation: eastus\n"
        f"OSDiskUri: {vhd}\nOSDiskUriReadOnlySas: {vhd}?sv=2019&sig=SECRET\n"
        "TemplateUri: https://acct/t.json\nTemplateUriReadOnlySas: https://acct/t.json?sig=SECRET\n"
    )
    facts = describe(raw("Azure.ResourceManagement.VMImage", vhd, string), "azure-arm", {})
    assert facts.image_ids == (vhd,)
    assert facts.region == "eastus"
    assert "SECRET" not in repr(facts)


def test_azure_unknown_id() -> None:
    facts = describe(raw("Azure.ResourceManagement.VMImage", "UNKNOWN ID", ""), "", {})
    assert facts == ArtifactFacts("azure", None, ())


# --- vsphere ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("builder_id", ["jetbrains.vsphere", "vmware.vsphere"])
def test_vsphere(builder_id: str) -> None:
    src = {"datacenter": '"DC0"', "cluster": "DC0_C0", "vcenter_server": "${var.vc}"}
    facts = describe(raw(builder_id, "tpl-base", "tpl-base"), "", src)
    assert facts == ArtifactFacts("vsphere", "DC0", ("tpl-base",), {"cluster": "DC0_C0"})


def test_vsphere_values_built_from_variables_resolve_like_everywhere_else() -> None:
    # The resolver is templates.interpolate, shared with the download cache and manifest paths.
    src = {"datacenter": "dc-${var.site}", "folder": "${path.root}/x", "__vars__": {"site": "ams"}}
    facts = describe(raw("jetbrains.vsphere", "vm1"), "vsphere-iso", src)
    assert facts.region == "dc-ams"
    assert "folder" not in facts.extra  # path.root is not known here: unknown, not guessed


def test_vsphere_clone_uses_same_parser_and_no_datacenter_means_unknown() -> None:
    facts = describe(raw("jetbrains.vsphere", "vm1"), "vsphere-clone", {})
    assert facts == ArtifactFacts("vsphere", None, ("vm1",))


# --- googlecompute ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "region"),
    [("europe-west1-b", "europe-west1"), ("us-central1-a", "us-central1"), ("weird", "weird"), (None, None)],
)
def test_googlecompute_region_from_zone(zone: str | None, region: str | None) -> None:
    src = {"zone": zone} if zone else {}
    facts = describe(raw("packer.googlecompute", "img-1", "A disk image was created: img-1"), "", src)
    assert facts.platform == "gcp"
    assert facts.region == region
    assert facts.image_ids == ("img-1",)


# --- docker -----------------------------------------------------------------------------------------


def test_docker_commit() -> None:
    facts = describe(raw("packer.docker", "sha256:abc"), "docker", {"image": '"debian"'})
    assert facts == ArtifactFacts("docker", None, ("sha256:abc",), {"source_image": "debian"})


def test_docker_export_uses_the_tarball() -> None:
    facts = describe(raw("packer.docker", "Container", "Exported", ("image.tar",)), "docker", {})
    assert facts.image_ids == ("image.tar",)


def test_post_processor_artifact_is_read_by_its_own_id() -> None:
    # The template says amazon-ebs, but this artifact came from docker-tag: read it as docker.
    facts = describe(raw("packer.post-processor.docker-tag", "repo/app:1"), "amazon-ebs", {})
    assert facts.platform == "docker"
    assert facts.image_ids == ("repo/app:1",)


# --- qemu / file / null -----------------------------------------------------------------------------


def test_qemu_files_are_the_images() -> None:
    art = raw("transcend.qemu", "VM", "VM files in directory: out", ("out/a.qcow2", "out/b.qcow2"))
    assert describe(art, "qemu", {}) == ArtifactFacts(
        "qemu", None, ("out/a.qcow2", "out/b.qcow2"), {"output_directory": "out"}
    )


def test_file_and_null_are_local() -> None:
    assert describe(raw("packer.file", "File", "", ("out/x",)), "", {}) == ArtifactFacts(
        "local", None, ("out/x",)
    )
    assert describe(raw("fnoeding.null", "Null"), "null", {}) == ArtifactFacts("local", None, ())


# --- odd inputs -------------------------------------------------------------------------------------


def test_unknown_builder_type_falls_back_to_the_type() -> None:
    facts = describe(raw("hashicorp.proxmox", "123"), "proxmox-iso", {})
    assert facts == ArtifactFacts("proxmox-iso", None, ("123",))


def test_unknown_everything() -> None:
    assert describe(raw("some.plugin", ""), "", {}) == ArtifactFacts("some.plugin", None, ())
    assert describe(raw(), "", {}) == ArtifactFacts("unknown", None, ())


def test_source_that_is_not_a_mapping_is_ignored() -> None:
    assert describe(raw("", "a:b"), "amazon-ebs", None).region == "a"  # type: ignore[arg-type]


def test_var_loops_and_odd_values_are_unknown() -> None:
    src: dict[str, Any] = {
        "datacenter": "${var.a}",
        "cluster": True,
        "host": 7,
        "__vars__": {"a": "${var.b}", "b": "${var.a}"},
    }
    facts = describe(raw("jetbrains.vsphere", "vm"), "vsphere-iso", src)
    assert facts.region is None
    assert dict(facts.extra) == {"host": "7"}


def test_parser_exception_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import hybridcore.packer.artifact_facts as b

    def boom(raw: RawArtifact, source: Any) -> ArtifactFacts:
        raise RuntimeError("bug")

    monkeypatch.setattr(b, "BUILDER_PARSERS", {"qemu": boom})
    assert describe(raw("transcend.qemu", "VM"), "qemu", {}) == ArtifactFacts("qemu", None, ("VM",))


# --- never raises -----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_keys = st.sampled_from(
    [
        "region",
        "location",
        "datacenter",
        "cluster",
        "zone",
        "image",
        "output_directory",
        "shared_image_gallery_destination",
        "replication_regions",
        "image_storage_locations",
        "__vars__",
        "other",
    ]
)
_raws = st.builds(
    RawArtifact,
    build_name=st.text(max_size=10),
    index=st.integers(0, 5),
    builder_id=st.sampled_from([*BUILDER_IDS, "", "x.y"]) | st.text(max_size=10),
    id=st.text(max_size=60) | st.just(SIG) | st.just("us-east-1:ami-1,eu-west-1:ami-2"),
    string=st.text(max_size=120) | st.just(f"x:\n\nManagedImageSharedImageGalleryId: {SIG}\n"),
    files=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    timestamp=st.integers(0, 2**40),
)


@given(
    art=_raws,
    builder_type=st.sampled_from([*BUILDER_PARSERS, "", "weird"]),
    source=st.dictionaries(_keys, _json, max_size=6),
)
def test_describe_and_every_parser_never_raise(art: RawArtifact, builder_type: str, source: Any) -> None:
    facts = describe(art, builder_type, source)
    assert isinstance(facts, ArtifactFacts)
    assert all(isinstance(i, str) and i for i in facts.image_ids)
    assert facts.region is None or isinstance(facts.region, str)
    hash(facts)
    # The parsers themselves, without describe's safety net, must not raise either.
    for parser in set(BUILDER_PARSERS.values()):
        parser(art, source)
