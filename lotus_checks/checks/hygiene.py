"""LL6xx: repository hygiene."""

from __future__ import annotations

import os
from typing import Iterator

from lotus_checks.context import CheckContext
from lotus_checks.finding import Finding
from lotus_checks.repo import SKIPPED_FOLDERS
from lotus_checks.rules import Rule

LL601 = Rule(
    "LL601",
    "terraform-state-in-repo",
    "Terraform state committed to the repository",
    explanation="""Terraform state (`*.tfstate`, `*.tfstate.backup`) or a `.terraform/` folder
inside the repo. State belongs to the backend tofu-controller uses; a committed copy holds
secrets in clear text and, once applied from, overwrites production with stale state (this caused
a production incident on the real platform).

Fires on: `orchestration/airbyte/terraform/terraform.tfstate`.

Fix: `git rm --cached` the file, add `*.tfstate*` and `.terraform/` to `.gitignore`.""",
)

RULES = (LL601,)


def _is_state(name: str) -> bool:
    return name.endswith(".tfstate") or ".tfstate." in name


def check(ctx: CheckContext) -> Iterator[Finding]:
    root = ctx.config.root
    cache_dir = ctx.config.cache_dir.split("/", 1)[0]
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        if ".terraform" in dirs:
            yield LL601.finding(
                prefix + ".terraform",
                message="`.terraform/` folder (provider cache and possibly state) in the repo",
                hint="delete it and add `.terraform/` to .gitignore",
            )
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED_FOLDERS and d != cache_dir
            and d != "venv"
        ]
        for name in names:
            if _is_state(name):
                yield LL601.finding(
                    prefix + name,
                    message=f"Terraform state file `{name}` in the repo",
                    hint="remove it (`git rm --cached`), add `*.tfstate*` to .gitignore; "
                    "state lives in the tofu-controller backend",
                )
