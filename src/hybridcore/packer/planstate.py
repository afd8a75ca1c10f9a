"""``plan``: what each target needs, from its present inputs and the state, without running Packer.

- ``current``: the present fingerprint was already built successfully in this env (the trust row says
  ``reason = build`` for this digest, or an artifact record's ``provenance.fingerprint`` is this digest);
- ``build``: trusted (by ``validate``) but not built yet;
- ``drift``: differs from what is trusted;
- ``untrusted``: never validated in this env.

Fingerprints hold paths relative to the project, so a checkout elsewhere gives the same states. The
state is only read: without one, every target is ``untrusted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hybridcore.packer import binary as binmod
from hybridcore.packer import driftcheck
from hybridcore.packer.config import Project, load_project
from hybridcore.packer.plan import env_name, plan_target

if TYPE_CHECKING:
    from hybridcore.state import StateStore

State = Literal["current", "build", "drift", "untrusted"]
SCHEMA_VERSION = 1
_ARTIFACTS_SCANNED = 500


@dataclass(frozen=True, slots=True)
class TargetState:
    target: str
    state: State
    reason: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"target": self.target, "state": self.state, "reason": self.reason}


def plan_states(targets: str | Sequence[str] | None, vars: Mapping[str, Any] | None = None, *,
                var_files: Sequence[str | Path] | None = None, provisioners: Sequence[str | Path] | None = None,
                project: Project | str | Path | None = None,
                store: StateStore | None = None) -> list[TargetState]:
    """The state of each target (bad input raises, as for ``validate``); ``store`` None: no state yet."""
    proj = project if isinstance(project, Project) else load_project(project)
    chosen = proj.resolve(targets)
    packer = binmod.discover(proj.packer_binary, proj.packer_version,
                             cache=proj.state_dir / "parsed" / "packer-version.json")
    plans = [plan_target("build", proj, t, packer, vars_=vars, var_files=var_files or (),
                         provisioners=provisioners or ()) for t in chosen]
    env = env_name()
    current = driftcheck.fingerprints_of(proj, packer, plans, env)
    if store is None:
        return [TargetState(p.target.name, "untrusted", f"never validated in env {env!r}", f.digest)
                for p, f in zip(plans, current, strict=True)]
    out = []
    for c in driftcheck.compare(store, plans, current, env):
        name, digest = c.plan.target.name, c.current.digest
        if c.trusted is None:
            out.append(TargetState(name, "untrusted", f"never validated in env {env!r}", digest))
        elif not c.diff.clean:
            first = c.diff.summary().splitlines()[0] if c.diff.summary() else "inputs changed"
            more = len(c.diff.summary().splitlines()) - 1
            out.append(TargetState(name, "drift", first + (f" (+{more} more)" if more > 0 else ""), digest))
        else:
            out.append(_trusted_state(store, name, env, digest))
    return out


def _trusted_state(store: StateStore, target: str, env: str, digest: str) -> TargetState:
    row = store.get_trusted(target, env) or {}
    if row.get("reason") == "build":
        return TargetState(target, "current", f"built by run {row.get('trusted_by')}", digest)
    for record in store.list_artifacts(target=target, limit=_ARTIFACTS_SCANNED):
        prov = record.get("provenance") or {}
        if prov.get("fingerprint") == digest and prov.get("env") == env:
            return TargetState(target, "current", f"built as artifact {record.get('build_id')} (same inputs)", digest)
    return TargetState(target, "build", f"validated by run {row.get('trusted_by')}, not built yet", digest)


def document(states: Sequence[TargetState]) -> dict[str, Any]:
    """``plan --json``: ``{"schema_version": 1, "targets": [{"target", "state", "reason"}]}``."""
    return {"schema_version": SCHEMA_VERSION, "targets": [s.to_dict() for s in states]}


def matrix(states: Sequence[TargetState]) -> dict[str, Any]:
    """``plan --matrix``: a GitHub Actions matrix of the targets in state ``build``."""
    return {"include": [{"target": s.target} for s in states if s.state == "build"]}
