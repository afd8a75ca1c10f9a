"""The Typer apps, the options every command shares, and the few rules all commands follow.

- Output: a command's data on stdout; with ``--json`` only the document (errors included, as JSON);
  without it, errors and summaries on stderr as text (``console``).
- Exit codes: ``hybridcore.errors.ExitCode`` (DESIGN.md); ``exit_code`` in a JSON document is the
  process's exit code.
- No project: a command that needs ``hybridcore.toml`` and finds none says where it looked and that
  ``-C`` names another folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from hybridcore.errors import ConfigError, ExitCode, HybridcoreError, MalformedVar, UnknownTarget

if TYPE_CHECKING:
    from hybridcore.packer.config import Project
    from hybridcore.state import StateStore

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Safe, observable HashiCorp Packer builds.")
runs_app = typer.Typer(help="Commands recorded in the state (.hybridcore/).", invoke_without_command=True)
artifacts_app = typer.Typer(help="Artifact records and the registry (channels, revocations).",
                            invoke_without_command=True)
cache_app = typer.Typer(help="The shared download cache.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(cache_app, name="cache")


@dataclass(slots=True)
class GlobalOptions:
    """Options given before the command name (``hybridcore-packer -C DIR build ...``)."""

    project: Path | None = None
    narrator: Any = None                      # the running command's console.narrate.Narrator
    loaded: dict[str, Project] = field(default_factory=dict)


TargetsArg = Annotated[list[str] | None, typer.Argument(help="targets from hybridcore.toml or template paths",
                                                        show_default=False)]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="NAME=VALUE (repeatable)", show_default=False)]
VarFileOpt = Annotated[list[Path] | None, typer.Option("--var-file", help="a .pkrvars.hcl/.json file (repeatable)",
                                                       show_default=False)]
SecretOpt = Annotated[list[str] | None, typer.Option(
    "--secret", help="NAME=ENV_VAR: variable NAME is secret, its value read from $ENV_VAR (repeatable)",
    show_default=False)]
ProvOpt = Annotated[list[Path] | None, typer.Option("--provisioner", help="a provisioner asset to hash and pass "
                                                    "(repeatable)", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the response object as JSON only")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", min=0.001, help="seconds per Packer run")]


def options(ctx: typer.Context) -> GlobalOptions:
    found = ctx.find_object(GlobalOptions)
    if found is None:
        found = GlobalOptions()
        ctx.obj = found
    return found


def project_arg(ctx: typer.Context) -> Path | None:
    return options(ctx).project


def fail(exc: HybridcoreError, json_mode: bool) -> NoReturn:
    from hybridcore.packer.console import documents, report

    if json_mode:
        documents.print_json(documents.error_document(exc))
    else:
        report.error(exc)
    raise typer.Exit(exc.exit_code)


def no_project_hint(project: Project) -> str:
    return (f"no hybridcore.toml found in {project.root} or its parents; use -C DIR to name the project "
            "folder, or 'hybridcore-packer init' to create one")


def load(ctx: typer.Context, json_mode: bool, *, need_config: bool = False) -> Project:
    """The project (loaded once per command); ``need_config``: refuse when there is no hybridcore.toml."""
    from hybridcore.packer.config import load_project

    opts = options(ctx)
    if "p" not in opts.loaded:
        try:
            opts.loaded["p"] = load_project(opts.project)
        except HybridcoreError as exc:
            fail(exc, json_mode)
    project = opts.loaded["p"]
    if need_config and project.config_path is None:
        fail(HybridcoreError("no project here", hint=no_project_hint(project)), json_mode)
    return project


@contextmanager
def guarded(ctx: typer.Context, json_mode: bool) -> Iterator[None]:
    """Turn a refusal into its message (text or JSON) and exit code; an unknown target (or none at all)
    outside any project says that there is no project."""
    try:
        yield
    except (UnknownTarget, ConfigError) as exc:
        # Outside any project a ConfigError can only be "no targets": say that there is no project.
        project = options(ctx).loaded.get("p")
        if project is not None and project.config_path is None:
            exc.hint = no_project_hint(project)
        fail(exc, json_mode)
    except HybridcoreError as exc:
        fail(exc, json_mode)


_ENV_VAR_HINT = ("name the environment variable that holds the value: --secret NAME=ENV_VAR (the value itself "
                "never goes on the command line)")


def parse_vars(items: list[str] | None, secrets: list[str] | None = None) -> dict[str, Any]:
    """``--var NAME=VALUE`` and ``--secret NAME=ENV_VAR`` as one mapping (secrets as ``Secret``)."""
    from hybridcore.packer.secrets import Secret, parse_var_assignment

    out: dict[str, Any] = dict(parse_var_assignment(item) for item in items or [])
    for item in secrets or []:
        try:
            name, env_var = parse_var_assignment(item)
        except MalformedVar:
            # Not echoed: a value typed here by mistake would be a secret on the terminal.
            raise MalformedVar("malformed --secret: expected NAME=ENV_VAR", hint=_ENV_VAR_HINT) from None
        env_var = env_var.strip()
        if not env_var:
            raise MalformedVar(f"malformed --secret {name}=: expected NAME=ENV_VAR", hint=_ENV_VAR_HINT)
        if env_var not in os.environ:
            raise MalformedVar(f"--secret {name}={env_var}: environment variable {env_var} is not set",
                               hint=f"export {env_var} (from your CI's secret store) before running")
        if name in out:
            raise MalformedVar(f"variable {name} given both as --var and --secret",
                               hint="give a secret only with --secret NAME=ENV_VAR")
        out[name] = Secret(os.environ[env_var])
    return out


def existing_store(project: Project) -> StateStore | None:
    """The state store if it was ever created; read-only commands never create one."""
    from hybridcore.state import StateStore

    if not os.environ.get("HYBRIDCORE_STATE_URL", "").strip():
        db = project.state_dir / "state.db"
        if not db.is_file() or db.stat().st_size == 0:
            return None  # checked before for_root, which would create the .hybridcore folder
        return StateStore.for_root(project.root)
    store = StateStore.for_root(project.root)
    if not store.exists():
        store.close()
        return None
    return store


def with_store(ctx: typer.Context, json_mode: bool, fn: Callable[[StateStore | None], Any]) -> Any:
    """``fn(store)`` over the existing state (None when there is none yet), refusals turned into exits."""
    project = load(ctx, json_mode)
    with guarded(ctx, json_mode):
        store = existing_store(project)
        if store is None:
            return fn(None)
        try:
            from hybridcore.packer.sweep import sweep

            sweep(store)  # runs of a killed wrapper become 'abandoned' before anyone lists them
            return fn(store)
        finally:
            store.close()


def exit_with(code: int) -> NoReturn:
    raise typer.Exit(int(code))


def usage(message: str, hint: str, json_mode: bool) -> NoReturn:
    fail(HybridcoreError(message, hint=hint), json_mode)


__all__ = ["ExitCode", "app", "artifacts_app", "cache_app", "runs_app"]
