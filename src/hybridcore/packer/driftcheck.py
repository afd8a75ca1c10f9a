"""Drift: does each target's present fingerprint match the one last trusted for it in this env?

``validate`` (and a successful ``build``) trusts a fingerprint; ``build`` refuses the whole command
when any target differs, and ``drift`` only reports. Comparing never runs Packer. How a fingerprint
is computed lives in ``fingerprint.py``; this module decides what a difference means. (Not named
``drift.py``: a submodule of that name would replace the public ``hybridcore.packer.drift`` function
on the package once imported.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hybridcore.errors import DriftDetected
from hybridcore.packer import fingerprint as fp
from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.classify import Classification
from hybridcore.packer.config import Project
from hybridcore.packer.plan import TargetPlan
from hybridcore.packer.statcache import StatCache

if TYPE_CHECKING:
    from hybridcore.state import StateStore

REFUSED = Classification(retryable=False, category="drift", hint="run validate to trust the new inputs",
                         rule="drift")


@dataclass(frozen=True, slots=True)
class DriftReport:
    """One target's comparison, as ``drift()`` returns it."""

    target: str
    env: str
    digest: str
    trusted_digest: str | None
    diff: dict[str, Any]
    clean: bool
    summary: str


@dataclass(frozen=True, slots=True)
class Comparison:
    plan: TargetPlan
    current: fp.Fingerprint
    trusted: fp.Fingerprint | None
    diff: fp.DriftDiff

    def report(self, env: str) -> DriftReport:
        return DriftReport(self.plan.target.name, env, self.current.digest,
                           self.trusted.digest if self.trusted else None, self.diff.to_dict(),
                           self.diff.clean, self.diff.summary())


def fingerprints_of(project: Project, packer: PackerBinary, plans: Sequence[TargetPlan],
                    env: str) -> list[fp.Fingerprint]:
    """Each plan's fingerprint, in order, through one stat cache (loaded and saved once per command)."""
    cache = StatCache(project.state_dir / "statcache.json")
    out = []
    try:
        for plan in plans:
            assert plan.info is not None, "fmt plans have no fingerprint"
            out.append(fp.compute(fp.FingerprintInputs(
                root=project.root,
                files=tuple(plan.info.files) + plan.var_files,
                assets=plan.provisioners + plan.info.assets,
                vars=plan.fingerprint_vars(),
                meta={"only": ",".join(plan.target.only), "except": ",".join(plan.target.except_),
                      "packer_version": packer.version, "env": env},
            ), cache=cache))
        return out
    finally:
        cache.save()


def compare(store: StateStore, plans: Sequence[TargetPlan], fingerprints: Sequence[fp.Fingerprint],
            env: str) -> list[Comparison]:
    """Each plan's fingerprint against the trusted one of (target, env), in order."""
    out = []
    for plan, current in zip(plans, fingerprints, strict=True):
        row = store.get_trusted(plan.target.name, env)
        trusted = fp.Fingerprint.from_entries(row["digest"], row["entries"]) if row else None
        out.append(Comparison(plan, current, trusted, fp.diff(trusted, current)))
    return out


def refusal(drifted: Sequence[Comparison], env: str) -> DriftDetected:
    """The error that refuses a build whose targets ``drifted``, naming what changed in each."""
    names = sorted(c.plan.target.name for c in drifted)
    summaries = [f"{c.plan.target.name} ({env}):\n" + "\n".join("  " + s for s in c.diff.summary().splitlines())
                 for c in drifted]
    return DriftDetected(
        "build refused: inputs differ from what was last trusted for " + ", ".join(names)
        + f" in env {env!r}\n" + "\n".join(summaries),
        diff={c.plan.target.name: c.diff.to_dict() for c in drifted},
        hint="review the changes, then run 'hybridcore-packer validate " + " ".join(names)
             + "' to trust them (or revert them)",
    )
