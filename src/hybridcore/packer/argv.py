"""Deterministic argv for Packer: the same request always yields the byte-identical command line.

Fixed flag order: global flags, command flags, ``-only``/``-except``, ``-var-file`` in the order given,
the generated var file last, then the template. No variable value is ever on argv (``ps`` shows it to
every user): values given to the wrapper travel in the generated var file (varfile.py), which comes
last so that they win over the user's var files, as ``-var`` did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _selection(only: Sequence[str], except_: Sequence[str]) -> list[str]:
    out: list[str] = []
    if only:
        out.append("-only=" + ",".join(only))
    if except_:
        out.append("-except=" + ",".join(except_))
    return out


def _variables(var_files: Sequence[Path], generated: Path | str | None) -> list[str]:
    out = [f"-var-file={p}" for p in var_files]
    if generated is not None:
        out.append(f"-var-file={generated}")
    return out


def validate_argv(
    packer: str,
    template: Path,
    *,
    var_files: Sequence[Path] = (),
    generated_var_file: Path | str | None = None,
    only: Sequence[str] = (),
    except_: Sequence[str] = (),
    syntax_only: bool = False,
) -> list[str]:
    argv = [packer, "validate"]
    if syntax_only:
        argv.append("-syntax-only")
    return argv + _selection(only, except_) + _variables(var_files, generated_var_file) + [str(template)]


def build_argv(
    packer: str,
    template: Path,
    *,
    var_files: Sequence[Path] = (),
    generated_var_file: Path | str | None = None,
    only: Sequence[str] = (),
    except_: Sequence[str] = (),
    force: bool = False,
    on_error: str | None = None,
) -> list[str]:
    argv = [packer, "build", "-machine-readable"]
    if force:
        argv.append("-force")
    if on_error:
        argv.append(f"-on-error={on_error}")  # cleanup | abort | run-cleanup-provisioner (never ask)
    return argv + _selection(only, except_) + _variables(var_files, generated_var_file) + [str(template)]


def init_argv(packer: str, template: Path) -> list[str]:
    """``packer init`` (Packer >= 1.7) installs the plugins a template's ``required_plugins`` names."""
    return [packer, "init", str(template)]


HCL2_SUFFIXES = (".pkr.hcl", ".pkrvars.hcl")  # what packer fmt formats


def fmt_argvs(
    packer: str,
    template: Path,
    *,
    check: bool = False,
    diff: bool = False,
    recursive: bool = True,
    native_recursive: bool = False,
) -> list[list[str]]:
    """One argv per Packer invocation. Packer < 1.7 has no ``-recursive``: the wrapper then runs
    ``fmt`` once per folder that holds HCL files, in sorted order, which is what ``-recursive`` does."""
    flags = (["-check"] if check else []) + (["-diff"] if diff else [])
    if not recursive or not template.is_dir():
        return [[packer, "fmt", *flags, str(template)]]
    if native_recursive:
        return [[packer, "fmt", *flags, "-recursive", str(template)]]
    return [[packer, "fmt", *flags, str(d)] for d in hcl_folders(template)]


def hcl_folders(root: Path) -> list[Path]:
    folders = {root} if has_hcl(root) else set()
    for path in root.rglob("*"):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_dir() and not hidden and has_hcl(path):
            folders.add(path)
    return sorted(folders)


def has_hcl(folder: Path) -> bool:
    """Whether ``folder`` itself holds a file ``packer fmt`` formats."""
    return any(p.name.endswith(HCL2_SUFFIXES) for p in folder.iterdir() if p.is_file())
