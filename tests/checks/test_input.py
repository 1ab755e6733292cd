"""LL0xx input errors: each broken file is one finding with the right position, and the other
checks keep running on the rest of the repo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from tests.builders import CORE
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_tree
from tests.conftest import codes

MakeRepo = Callable[..., Path]
CONFIG = f"{STREAMS}/shopify/orders.json"
SOURCES_YML = f"{CORE}/shopify/_shopify__sources.yml"


def lake(**files: object) -> dict:
    tree: dict = {
        CONFIG: stream_config("orders"),
        f"{SOURCES}/shopify/orders.json": source_schema("orders"),
        SOURCES_YML: "version: 2\nsources:\n  - name: shopify\n    tables:\n      - name: orders\n",
    }
    tree.update(files)
    return tree


def input_codes(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    return [c for c in codes(check_tree(root)) if c[0].startswith("LL0")]


def test_correct_tree_has_no_input_findings(make_repo: MakeRepo) -> None:
    assert input_codes(make_repo(lake())) == []


def test_ll002_invalid_json_position(make_repo: MakeRepo) -> None:
    text = '{\n  "stream": "orders",\n  "selected": true,\n}\n'
    assert input_codes(make_repo(lake(**{CONFIG: text}))) == [("LL002", CONFIG, 4, 1)]


def test_ll002_empty_json_file(make_repo: MakeRepo) -> None:
    assert input_codes(make_repo(lake(**{CONFIG: ""}))) == [("LL002", CONFIG, 1, 1)]


def test_ll005_invalid_yaml_position(make_repo: MakeRepo) -> None:
    text = "version: 2\nsources:\n  - name: shopify\n     tables: []\n"
    assert input_codes(make_repo(lake(**{SOURCES_YML: text}))) == [("LL005", SOURCES_YML, 4, 12)]


def test_ll005_recursive_alias(make_repo: MakeRepo) -> None:
    text = "version: 2\nsources:\n  - name: shopify\n    tables: &t [*t]\n"
    assert input_codes(make_repo(lake(**{SOURCES_YML: text}))) == [("LL005", SOURCES_YML, 4, 13)]


def test_ll005_dbt_project(make_repo: MakeRepo) -> None:
    project = "orchestration/dbt_project.yml"
    text = "name: lotus_lake\nmodel-paths: [assets/core\n"
    found = input_codes(make_repo(lake(**{project: text})))
    assert [(c, p) for c, p, _, _ in found] == [("LL005", project)]
    assert found[0][2] is not None


def test_ll006_not_utf8_position(make_repo: MakeRepo) -> None:
    data = b'{\n  "stream": "caf\xe9"\n}\n'
    assert input_codes(make_repo(lake(**{CONFIG: data}))) == [("LL006", CONFIG, 2, 17)]


def test_ll006_binary_file(make_repo: MakeRepo) -> None:
    found = input_codes(make_repo(lake(**{SOURCES_YML: b"\x00\x01\x02sources"})))
    assert [(c, p) for c, p, _, _ in found] == [("LL006", SOURCES_YML)]


def test_utf8_bom_is_accepted(make_repo: MakeRepo) -> None:
    text = "\ufeff" + '{"stream": "orders"}'
    found = codes(check_tree(make_repo(lake(**{CONFIG: text.encode("utf-8")}))))
    assert not [c for c in found if c[0] in ("LL002", "LL006")]


def test_ll001_symlink_outside_the_repo(make_repo: MakeRepo, tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text('{"stream": "orders"}', encoding="utf-8")
    root = make_repo(lake(**{CONFIG: None}))
    (root / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, root / CONFIG)
    assert input_codes(root) == [("LL001", CONFIG, None, None)]


def test_ll001_dangling_symlink(make_repo: MakeRepo) -> None:
    root = make_repo(lake(**{CONFIG: None}))
    (root / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(root / "nowhere.json", root / CONFIG)
    assert input_codes(root) == [("LL001", CONFIG, None, None)]


def test_ll008_file_over_the_size_limit(make_repo: MakeRepo) -> None:
    root = make_repo(lake(**{"lotus-check.toml": "max-file-size = 200\n"}))
    found = input_codes(root)
    # the stream config and source schema are several hundred bytes; the sources file is small
    assert ("LL008", CONFIG, None, None) in found
    assert ("LL008", f"{SOURCES}/shopify/orders.json", None, None) in found
    assert all(path != SOURCES_YML for _, path, _, _ in found)


def test_one_broken_file_is_one_finding_and_other_checks_keep_running(make_repo: MakeRepo) -> None:
    tree = lake(**{
        CONFIG: '{"stream": "orders",',
        f"{STREAMS}/shopify/customers.json": stream_config("customer"),
        f"{SOURCES}/shopify/customers.json": source_schema("customers"),
        f"{CORE}/shopify/int_shopify__orders.sql": "select 1\n",
        f"{CORE}/shopify/int_shopify_customers.sql": "select 1\n",
    })
    found = codes(check_tree(make_repo(tree)))
    # the content checks skip the broken file instead of stumbling over it (LL3xx coverage
    # findings about which files exist still apply to it)
    on_broken = [c for c in found if c[1] == CONFIG and not c[0].startswith("LL3")]
    assert on_broken == [("LL002", CONFIG, 1, 21)]
    assert ("LL104", f"{STREAMS}/shopify/customers.json", 2, 3) in found
    assert ("LL101", f"{CORE}/shopify/int_shopify_customers.sql", None, None) in found
