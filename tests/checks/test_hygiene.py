"""LL601: Terraform state inside the repo."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tests.builders import STREAMS
from tests.builders import stream_config
from tests.conftest import check_tree
from tests.conftest import codes

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
    return [c for c in codes(check_tree(root)) if c[0].startswith("LL6")]


def test_clean_tree_is_silent(make_repo: MakeRepo) -> None:
    tree = lake(**{
        f"{TERRAFORM}/terraform.tfvars": 'workspace_id = "x"\n',
        f"{TERRAFORM}/state.tf": "# state lives in the backend\n",
        ".gitignore": "*.tfstate*\n.terraform/\n",
    })
    assert hygiene(make_repo(tree)) == []


def test_reference_tree_is_silent(reference_repo: Path) -> None:
    assert hygiene(reference_repo) == []


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
