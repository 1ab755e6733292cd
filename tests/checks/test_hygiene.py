"""LL601: Terraform state inside the repo."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from lotus_checks.checks import hygiene as hygiene_family
from tests.builders import STREAMS
from tests.builders import stream_config
from tests.conftest import check_family
from tests.conftest import check_tree
from tests.conftest import codes
from tests.conftest import codes_of

MakeRepo = Callable[..., Path]
TERRAFORM = "orchestration/airbyte/terraform"


def lake(**files: object) -> dict:
    tree: dict = {
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
        f"{TERRAFORM}/main.tf": 'terraform {\n  backend "kubernetes" {}\n}\n',
    }
    tree.update(files)
    return tree


def hygiene(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    """What the hygiene family's check finds (LL601; LL602, unused noqa, is the engine's)."""
    return codes_of(check_family(hygiene_family, root))


def test_clean_tree_is_silent(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{TERRAFORM}/terraform.tfvars": 'workspace_id = "x"\n',
        f"{TERRAFORM}/state.tf": "# state lives in the backend\n",
        ".gitignore": "*.tfstate*\n.terraform/\n",
    })
    assert hygiene(make_repo(tree)) == []


def test_reference_tree_is_silent(reference_repo: Path) -> None:
    """End to end, LL602 included: the reference tree has no unused noqa comment."""
    assert [c for c in codes(check_tree(reference_repo)) if c[0].startswith("LL6")] == []


@pytest.mark.parametrize(
    "name",
    ["terraform.tfstate", "terraform.tfstate.backup", "prod.tfstate", "terraform.tfstate.1700000000.backup"],
)
def test_ll601_state_files(make_repo: MakeRepo, name: str) -> None:
    path = f"{TERRAFORM}/{name}"
    assert hygiene(make_repo(lake(**{path: '{"version": 4}'}))) == [("LL601", path, None, None)]


def test_ll601_state_anywhere_in_the_repo(make_repo: MakeRepo) -> None:
    path = "infra/old/terraform.tfstate"
    assert hygiene(make_repo(lake(**{path: "{}"}))) == [("LL601", path, None, None)]


def test_ll601_terraform_folder(make_repo: MakeRepo) -> None:
    tree = lake(**{f"{TERRAFORM}/.terraform/providers/x": "binary"})
    assert hygiene(make_repo(tree)) == [("LL601", f"{TERRAFORM}/.terraform", None, None)]


def test_ll601_reported_once_when_targets_include_the_file(make_repo: MakeRepo) -> None:
    path = f"{TERRAFORM}/terraform.tfstate"
    root = make_repo(lake(**{path: "{}"}))
    result = check_tree(root, targets=[path])
    assert [c for c in codes(result) if c[0] == "LL601"] == [("LL601", path, None, None)]
