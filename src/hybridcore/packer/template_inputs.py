"""Which attributes of sources, provisioners and post-processors name files on the build host.

Paths in these attributes resolve from the folder Packer runs in (Packer 1.6.6; ``file()`` and
``fileset()`` are the exception, see ``template_eval``). ``shell-local`` ``inline`` commands run on
the build host: the scripts they start are inputs too, found by :func:`inline_scripts`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["GLOB_KEYS", "file_keys", "inline_scripts", "path_words"]

# Builders (sources): served, copied or attached files.
_SOURCE_KEYS = ("http_directory", "floppy_files", "floppy_dirs", "cd_files", "user_data_file",
                "custom_data_file", "config_file", "vagrantfile_template", "startup_script_file",
                "metadata_files")
# Provisioners: scripts, playbooks, manifests and the folders they come with.
_PROVISIONER_KEYS = ("script", "scripts", "playbook_file", "playbook_dir", "playbook_paths", "galaxy_file",
                     "inventory_file", "inventory_directory", "roles_path", "collections_path", "role_paths",
                     "group_vars", "host_vars", "manifest_file", "manifest_dir", "module_paths",
                     "hiera_config_path", "cookbook_paths", "data_bags_path", "environments_path",
                     "encrypted_data_bag_secret_path", "config_template")
# Post-processors: files put into a box, Vagrantfile templates, scripts run on the build host.
_POST_PROCESSOR_KEYS = ("include", "vagrantfile_template", "script", "scripts")
# Packer expands wildcards in these (floppy_files: "Wildcard characters (*, ?, and []) are allowed").
GLOB_KEYS = frozenset({"floppy_files", "cd_files"})

_INTERPRETERS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "python", "python2", "python3", "perl",
                           "ruby", "pwsh", "powershell", "node", "source", ".", "ansible-playbook"})
_PREFIXES = frozenset({"sudo", "env", "exec", "time", "nohup", "command", "nice"})
# Options after which an interpreter runs code from the command line, not a script file.
_INLINE_CODE = {"python": {"-c", "-m"}, "python2": {"-c", "-m"}, "python3": {"-c", "-m"}, "perl": {"-e", "-E"},
                "ruby": {"-e"}, "node": {"-e", "-p"}, "pwsh": {"-c", "-Command", "-command"},
                "powershell": {"-c", "-Command", "-command"}}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATOR = re.compile(r"^[;&|()<>]+$")


def file_keys(kind: str, block_type: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The attributes of one block (``kind``: source/provisioner/post-processor) that name files."""
    if kind == "source":
        return _SOURCE_KEYS + (("source",) if block_type == "file" else ())
    if kind == "provisioner":
        if block_type == "file":
            generated = attrs.get("generated") in (True, "true")
            download = str(attrs.get("direction", "")).strip('"') == "download"
            return () if generated or download else ("source", "sources")
        return _PROVISIONER_KEYS
    return _POST_PROCESSOR_KEYS


def _words(command: str) -> list[str]:
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:  # unbalanced quotes: Packer's shell will complain, not us
        return command.split()


def _simple_commands(words: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for word in words:
        if _SEPARATOR.match(word):
            if current:
                yield current
            current = []
        else:
            current.append(word)
    if current:
        yield current


def inline_scripts(commands: Iterable[str]) -> Iterator[str]:
    """Script paths that inline shell commands start: ``./x.sh``, ``bash scripts/y.sh``, ``. lib.sh``.

    A command word with a ``/`` is a path; a word after an interpreter (``sh``, ``bash``, ``python``...)
    is its script unless the interpreter runs inline code (``-c``). Plain command names (``mkdir``)
    come from ``PATH``, not from the project, and are not reported.
    """
    for command in commands:
        for words in _simple_commands(_words(command)):
            i = 0
            while i < len(words) and (_ASSIGNMENT.match(words[i]) or words[i] in _PREFIXES
                                      or (i > 0 and words[i - 1] in _PREFIXES and words[i].startswith("-"))):
                i += 1
            if i >= len(words):
                continue
            word = words[i]
            name = os.path.basename(word)
            if name in _INTERPRETERS:
                inline_code = _INLINE_CODE.get(name, {"-c"})
                i += 1
                while i < len(words) and words[i].startswith("-"):
                    if words[i] in inline_code:
                        i = len(words)
                        break
                    i += 1
                if i < len(words):
                    yield words[i]
            elif "/" in word:
                yield word


def path_words(values: Iterable[Any]) -> Iterator[str]:
    """Paths inside ``K=V`` settings and ``@file`` arguments (ansible_env_vars, extra_arguments)."""
    for value in values:
        if not isinstance(value, str):
            continue
        if value.startswith("@"):
            yield value[1:]
            continue
        _, sep, right = value.partition("=")
        if sep and "/" in right and "://" not in right and " " not in right.strip():
            yield right.strip().strip("'\"")
