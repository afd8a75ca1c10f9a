"""Drift: does each target's present fingerprint match the one last trusted for it in this env?

``validate`` (and a successful ``build``) trusts a fingerprint; ``build`` refuses the whole command
when any target differs, and ``drift`` only reports. Comparing never runs Packer. How a fingerprint
is computed lives in ``fingerprint.py``; this module decides what a difference means. (Not named
``drift.py``: a submodule of that name would replace the public ``hybridcore.packer.drift`` function
on the package once imported.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridcore.errors import DriftDetected
from hybridcore.packer import fingerprint as fp
from hybridcore.packer.binary import PackerBinary
from hybridcore.packer.config import Project
from hybridcore.packer.plan import TargetPlan
from hybridcore.packer.statcache import StatCache

if TYPE_CHECKING:
    from hybridcore.packer.classify import Classification
    from hybridcore.state import StateStore

_UNSET = "\0unset"  # an environment variable that is not set differs from one set to ""


def refused() -> Classification:
    """How a build refused for drift is classified (made on use: ``drift`` never loads the classifier)."""
    from hybridcore.packer.classify import Classification

    return Classification(retryable=False, category="drift", hint="run validate to trust the new inputs",
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
    warnings: tuple[str, ...] = ()   # what is not hashed (computed paths, links out of the project)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One target's current fingerprint beside the one last trusted."""

    plan: TargetPlan
    current: fp.Fingerprint
    trusted: fp.Fingerprint | None
    diff: fp.DriftDiff

    def report(self, env: str) -> DriftReport:
        return DriftReport(self.plan.target.name, env, self.current.digest,
                           self.trusted.digest if self.trusted else None, self.diff.to_dict(),
                           self.diff.clean, self.diff.summary(), warnings_of(self.plan, self.current))


def warnings_of(plan: TargetPlan, current: fp.Fingerprint) -> tuple[str, ...]:
    """The plan's warnings plus what hashing found out of reach, as validate and build print them."""
    return (*plan.warnings, *notes_of(plan, current))


def notes_of(plan: TargetPlan, current: fp.Fingerprint) -> tuple[str, ...]:
    if not current.outside:
        return ()
    return (f"{plan.target.name}: links point outside the project, hashed by their target path only: "
            + "; ".join(current.outside),)


def fingerprints_of(project: Project, packer: PackerBinary, plans: Sequence[TargetPlan],
                    env: str) -> list[fp.Fingerprint]:
    """Each plan's fingerprint, in order, through one stat cache (loaded and saved once per command)."""
    cache = StatCache(project.state_dir / "statcache.json")
    out = []
    try:
        for plan in plans:
            out.append(fp.compute(inputs_of(project, packer, plan, env), cache=cache))
        return out
    finally:
        cache.save()


def inputs_of(project: Project, packer: PackerBinary, plan: TargetPlan, env: str) -> fp.FingerprintInputs:
    """Everything the build can read (DESIGN.md "Where Packer runs, and what it reads")."""
    info = plan.info
    assert info is not None, "fmt plans have no fingerprint"
    assert info.resolved is not None, "plans are resolved before they are fingerprinted"
    given = set(plan.split.plain) | set(plan.split.secret)
    # Values from the environment by digest (every fingerprint var is a digest): PKR_VAR_* the
    # wrapper does not override, and the variables env() reads.
    env_vars = {f"env:{name}": _UNSET if value is None else value
                for name, value in info.resolved.env_reads.items()
                if not (name.startswith("PKR_VAR_") and name.removeprefix("PKR_VAR_") in given)}
    return fp.FingerprintInputs(
        root=project.root,
        files=tuple(info.files) + plan.var_files,
        assets=plan.provisioners + info.resolved.inputs,
        vars={**plan.fingerprint_vars(), **env_vars},
        meta={"only": ",".join(plan.target.only), "except": ",".join(plan.target.except_),
              "packer_version": packer.version, "env": env,
              "workdir": _relative(info.workdir, project.root)},
    )


def _relative(path: Path, root: Path) -> str:
    # Trust must not depend on where the checkout lives.
    return Path(os.path.relpath(path, root)).as_posix()


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
