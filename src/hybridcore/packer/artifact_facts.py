"""Per-builder interpretation of Packer artifacts.

Packer reports every artifact as ``builder-id``/``id``/``string``/``files``; what those mean depends on
the builder (an AMI map, an Azure resource ID, a VM name, a list of disk files...). ``describe`` turns one
:class:`~hybridcore.packer.machine_readable.RawArtifact` plus the attributes of the template's source block into
:class:`ArtifactFacts`: the platform, a region when one can be known, and the image identifiers.

Each builder family is one small function in :data:`BUILDER_PARSERS`. The formats were taken from the
builders' ``artifact.go`` (Packer 1.6.6 and the current plugins) and from real 1.6.6 runs (file, null).

Template values may be unresolved HCL expressions; ``${var.NAME}`` is resolved through the optional
``source["__vars__"]`` mapping by :func:`~hybridcore.packer.templates.interpolate`. Anything else that
still holds ``${`` counts as unknown rather than being reported as a region.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from hybridcore.packer.machine_readable import RawArtifact
from hybridcore.packer.templates import interpolate

__all__ = [
    "BUILDER_IDS",
    "BUILDER_PARSERS",
    "ArtifactFacts",
    "builder_type_for",
    "describe",
]

log = logging.getLogger(__name__)


def _frozen(extra: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(sorted((extra or {}).items())))


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """What an artifact is, as far as the artifact and its template tell."""

    platform: str
    region: str | None
    image_ids: tuple[str, ...]
    # Builder-specific detail (all AMI regions, Azure resource group, vSphere cluster...). Read-only and
    # excluded from the hash because a mapping is not hashable; it still takes part in ``==``.
    extra: Mapping[str, str] = field(default_factory=lambda: _frozen(None), hash=False)
    # Packer's full build name ("app.file.rootfs" for a named build block): kept as Packer reported it,
    # never mistaken for the builder type, which comes from the source.
    build_name: str = ""

    def __post_init__(self) -> None:
        # Callers may pass a plain dict; freeze and sort it so equal facts compare and serialise equal.
        object.__setattr__(self, "extra", _frozen(self.extra))
        object.__setattr__(self, "image_ids", tuple(self.image_ids))

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "region": self.region,
            "image_ids": list(self.image_ids),
            "extra": dict(self.extra),
            "build_name": self.build_name,
        }


# --- builder ids ------------------------------------------------------------------------------------

BUILDER_IDS: Mapping[str, str] = MappingProxyType(
    {
        # Amazon: one id per builder, all share the region:ami artifact format.
        "mitchellh.amazonebs": "amazon-ebs",
        "mitchellh.amazon.ebssurrogate": "amazon-ebssurrogate",
        "mitchellh.amazon.ebsvolume": "amazon-ebsvolume",
        "mitchellh.amazon.instance": "amazon-instance",
        "mitchellh.amazon.chroot": "amazon-chroot",
        "packer.post-processor.amazon-import": "amazon-import",
        "packer.post-processor.ami-copy": "amazon-ami-copy",
        # Azure: arm and dtl builders both report this id.
        "Azure.ResourceManagement.VMImage": "azure-arm",
        # vSphere: 1.6.6 and the HashiCorp plugin say jetbrains.vsphere, the VMware-maintained plugin
        # says vmware.vsphere. iso and clone share the id; the template's type tells them apart.
        "jetbrains.vsphere": "vsphere-iso",
        "vmware.vsphere": "vsphere-iso",
        "packer.googlecompute": "googlecompute",
        "packer.docker": "docker",
        "packer.post-processor.docker-import": "docker-import",
        "packer.post-processor.docker-tag": "docker-tag",
        "packer.post-processor.docker-save": "docker-save",
        "transcend.qemu": "qemu",
        "packer.file": "file",
        "fnoeding.null": "null",
        # Post-processors that wrap local files.
        "packer.post-processor.manifest": "manifest",
        "packer.post-processor.compress": "compress",
        "packer.post-processor.artifice": "artifice",
    }
)

# Artifacts made by a post-processor carry the post-processor's id even though the template's source
# type is, say, ``docker``; for these the artifact's own id decides how to read it.
_POST_PROCESSOR_TYPES = frozenset(t for i, t in BUILDER_IDS.items() if i.startswith("packer.post-processor."))


def builder_type_for(builder_id: str) -> str:
    """The builder type Packer's ``builder-id`` stands for, ``""`` when unknown."""
    return BUILDER_IDS.get(builder_id, "")


# --- template values --------------------------------------------------------------------------------


def _vars(source: Mapping[str, Any]) -> Mapping[str, Any]:
    v = source.get("__vars__")
    return v if isinstance(v, Mapping) else {}


def _text(source: Mapping[str, Any], key: str) -> str | None:
    """A scalar attribute as non-empty text, ``None`` when unknown (booleans never name anything)."""
    return interpolate(source.get(key), None, _vars(source)) or None


def _texts(source: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list attribute (or a single value) as strings; unknown elements are dropped."""
    value = source.get(key)
    items = value if isinstance(value, list | tuple) else [value]
    variables = _vars(source)
    return tuple(s for s in (interpolate(item, None, variables) for item in items) if s)


def _block(source: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested block; python-hcl2 gives blocks as a one-element list of dicts."""
    value = source.get(key)
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if not isinstance(value, Mapping):
        return {}
    # Nested blocks resolve variables against the same mapping as the source block.
    return {**value, "__vars__": _vars(source)}


def _ids(*candidates: str | None) -> tuple[str, ...]:
    """Non-empty candidates in order, without duplicates."""
    return tuple(dict.fromkeys(c for c in candidates if c))


def _clean(extra: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in extra.items() if v}


# --- parsers ----------------------------------------------------------------------------------------

Parser = Callable[[RawArtifact, Mapping[str, Any]], ArtifactFacts]


def _amazon(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # Id() is "region:ami" pairs joined by "," and sorted, so the first pair is the alphabetically first
    # region, not necessarily the build region; prefer the template's region when it is in the map.
    pairs: list[tuple[str, str]] = []
    for part in raw.id.split(","):
        name, sep, image = part.strip().partition(":")
        if sep and name and image:
            pairs.append((name, image))
        elif part.strip():
            pairs.append(("", part.strip()))
    regions = [r for r, _ in pairs if r]
    wanted = _text(source, "region")
    region = wanted if wanted in regions else (regions[0] if regions else wanted)
    extra = {"regions": ",".join(dict.fromkeys(regions))} if regions else {}
    return ArtifactFacts("aws", region, _ids(*(i for _, i in pairs)), extra)


_AZ_LINE = re.compile(r"^([A-Za-z][A-Za-z ()0-9-]*):[ \t]*(.*?)\s*$", re.MULTILINE)
_AZ_IMAGE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"(?:images/(?P<image>[^/]+)"
    r"|galleries/(?P<gallery>[^/]+)/images/(?P<definition>[^/]+)(?:/versions/(?P<version>[^/]+))?)",
    re.IGNORECASE,
)


def _azure(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # String() is "Azure.ResourceManagement.VMImage:\n\nKey: value\n...": read the keys we need. The VHD
    # form also prints *ReadOnlySas URLs, which carry SAS tokens: never copy those into the facts.
    fields = {k: v for k, v in _AZ_LINE.findall(raw.string) if v and "Sas" not in k}
    artifact_id = raw.id if raw.id and raw.id != "UNKNOWN ID" else None
    sig_id = fields.get("ManagedImageSharedImageGalleryId")
    managed_id = fields.get("ManagedImageId")
    vhd = fields.get("VHDOSDiskUri") or fields.get("OSDiskUri")
    image_ids = _ids(artifact_id, managed_id, sig_id) or _ids(vhd)

    sig_block = _block(source, "shared_image_gallery_destination")
    replicated = fields.get("SharedImageGalleryReplicatedRegions")
    replication = (
        tuple(r.strip() for r in replicated.split(",") if r.strip())
        if replicated
        else _texts(sig_block, "replication_regions")
    )
    # Where the image lives: what Packer printed first, then the template. A build into an existing
    # resource group (build_resource_group_name) has no location attribute, so the region stays unknown.
    region = (
        fields.get("ManagedImageLocation")
        or fields.get("StorageAccountLocation")
        or _text(source, "location")
        or (replication[0] if replication else None)
    )

    extra: dict[str, str | None] = {
        "os_type": fields.get("OSType"),
        "managed_image_resource_group": fields.get("ManagedImageResourceGroupName")
        or _text(source, "managed_image_resource_group_name"),
        "managed_image_name": fields.get("ManagedImageName") or _text(source, "managed_image_name"),
        "vhd_uri": vhd if vhd and vhd not in image_ids else None,
        "replication_regions": ",".join(replication) or None,
    }
    for ref in (sig_id, artifact_id):
        m = _AZ_IMAGE.search(ref or "")
        if m and m.group("gallery"):
            extra |= {
                "subscription_id": m.group("sub"),
                "gallery_resource_group": m.group("rg"),
                "gallery": m.group("gallery"),
                "gallery_image": m.group("definition"),
                "gallery_image_version": m.group("version"),
            }
            break
    m = _AZ_IMAGE.search(managed_id or artifact_id or "")
    if m and m.group("image"):
        extra.setdefault("subscription_id", m.group("sub"))
        extra["managed_image_resource_group"] = extra["managed_image_resource_group"] or m.group("rg")
        extra["managed_image_name"] = extra["managed_image_name"] or m.group("image")
    return ArtifactFacts("azure", region, image_ids, _clean(extra))


def _vsphere(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # Id() and String() are both the VM (or template) name; the location lives only in the template.
    extra = {
        "vcenter_server": _text(source, "vcenter_server"),
        "cluster": _text(source, "cluster"),
        "host": _text(source, "host"),
        "folder": _text(source, "folder"),
        "datastore": _text(source, "datastore"),
    }
    return ArtifactFacts("vsphere", _text(source, "datacenter"), _ids(raw.id.strip()), _clean(extra))


_GCP_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


def _googlecompute(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # Id() is the image name; the image is global but the build ran in a zone: report its region.
    zone = _text(source, "zone")
    m = _GCP_ZONE.match(zone or "")
    region = m.group(1) if m else zone
    extra = {
        "zone": zone,
        "project_id": _text(source, "project_id"),
        "image_family": _text(source, "image_family"),
        "image_storage_locations": ",".join(_texts(source, "image_storage_locations")) or None,
    }
    return ArtifactFacts("gcp", region, _ids(raw.id.strip()), _clean(extra))


def _docker(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # commit=true: Id() is the image id ("sha256:..."); export_path: Id() is the constant "Container" and
    # the tarball is the only file; docker-tag/-import post-processors: Id() is "repo:tag" or the repo.
    ident = raw.id.strip()
    image_ids = _ids(*raw.files) if ident == "Container" or not ident else _ids(ident)
    return ArtifactFacts("docker", None, image_ids, _clean({"source_image": _text(source, "image")}))


_DIRECTORY = re.compile(r"^VM files in directory: (.+)$")


def _qemu(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # Id() is the constant "VM"; the disk images are the artifact's files.
    m = _DIRECTORY.match(raw.string.strip())
    directory: str | None = m.group(1) if m else _text(source, "output_directory")
    return ArtifactFacts("qemu", None, _ids(*raw.files), _clean({"output_directory": directory}))


def _local_files(raw: RawArtifact, source: Mapping[str, Any]) -> ArtifactFacts:
    # file builder: Id() is the constant "File"; null: "Null" and no files. Both only touch this host.
    return ArtifactFacts("local", None, _ids(*raw.files))


def _fallback(platform: str, raw: RawArtifact) -> ArtifactFacts:
    return ArtifactFacts(platform, None, _ids(raw.id.strip()) or _ids(*raw.files))


def _table(entries: Iterable[tuple[Iterable[str], Parser]]) -> Mapping[str, Parser]:
    return MappingProxyType({name: parser for names, parser in entries for name in names})


BUILDER_PARSERS: Mapping[str, Parser] = _table(
    [
        (
            (
                "amazon-ebs",
                "amazon-ebssurrogate",
                "amazon-ebsvolume",
                "amazon-instance",
                "amazon-chroot",
                "amazon-import",
                "amazon-ami-copy",
            ),
            _amazon,
        ),
        (("azure-arm", "azure-dtl"), _azure),
        (("vsphere-iso", "vsphere-clone", "vsphere-supervisor"), _vsphere),
        (("googlecompute",), _googlecompute),
        (("docker", "docker-import", "docker-tag", "docker-save"), _docker),
        (("qemu",), _qemu),
        (("file", "null", "manifest", "compress", "artifice"), _local_files),
    ]
)


def describe(raw: RawArtifact, builder_type: str, source: Mapping[str, Any]) -> ArtifactFacts:
    """Facts about one artifact. Never raises: an artifact Packer already made must still be recorded.

    ``builder_type`` is the template's source type (empty: taken from ``raw.builder_id``), never the
    build name (``TemplateInfo.builder_type`` maps Packer's build name to its source); ``source`` the
    source block's attributes (evaluated where known), with an optional ``__vars__`` mapping to resolve
    ``${var.NAME}``.
    """
    from_id = builder_type_for(raw.builder_id)
    # A post-processor's artifact is no longer the builder's (a docker-tag result is "repo:tag").
    kind = from_id if from_id in _POST_PROCESSOR_TYPES else (builder_type or from_id)
    if not isinstance(source, Mapping):
        source = {}
    parser = BUILDER_PARSERS.get(kind)
    if parser is None:
        facts = _fallback(kind or raw.builder_id or "unknown", raw)
    else:
        try:
            facts = parser(raw, source)
        except Exception:  # a parser bug must not lose the record; the fallback keeps the raw id
            log.warning("could not interpret %s artifact %r", kind, raw.id, exc_info=True)
            facts = _fallback(kind, raw)
    return replace(facts, build_name=raw.build_name)
