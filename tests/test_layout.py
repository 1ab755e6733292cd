"""Layout detection (no config), `--show-settings`, `init`, and configured paths that must exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from collections.abc import Callable

import pytest
import yaml

from lotus_checks.core import layout
from lotus_checks.core.config import Config
from lotus_checks.core.config import ConfigError
from lotus_checks.core.config import load_config
from tests.builders import CORE
from tests.builders import MARTS
from tests.builders import SOURCES
from tests.builders import STREAMS
from tests.builders import copy_reference
from tests.builders import copy_reference_dag
from tests.builders import source_schema
from tests.builders import stream_config
from tests.conftest import check_tree
from tests.conftest import codes

CliRunner = Callable[..., tuple[int, str, str]]
DAG = "orchestration/dag"
DAG_DETECTED = {
    "streams": f"{DAG}/streams",
    "sources": f"{DAG}/sources",
    "models": (f"{DAG}/processed", f"{DAG}/enriched"),
    "dbt_project": "orchestration/dbt_project.yml",
    "generator": "orchestration/airbyte/generate-catalog.py",
    "terraform": "orchestration/airbyte/terraform",
}


def _layout(config: Config) -> dict[str, object]:
    return {key: getattr(config, key) for key in DAG_DETECTED}


def _origins(config: Config) -> dict[str, str]:
    return dict(config.origins)


# ---- detection on the layouts Lotus Lake repos have used -------------------------------------


def test_assets_layout_is_detected(tmp_path: Path) -> None:
    """The `assets` layout where the defaults do not look (the whole tree under `platform/`)."""
    copy_reference(tmp_path)
    (tmp_path / "orchestration").rename(tmp_path / "platform")
    config = load_config(tmp_path)
    defaults = Config(root=tmp_path)
    assert _layout(config) == {
        key: value.replace("orchestration/", "platform/") if isinstance(value, str)
        else tuple(v.replace("orchestration/", "platform/") for v in value)
        for key, value in _layout(defaults).items()
    }
    assert all(_origins(config)[key].startswith("detected") for key in (
        "streams", "sources", "models", "dbt-project", "generator", "terraform"))
    assert _origins(config)["layers"] == "default"


def test_the_defaults_are_used_where_they_are_there(tmp_path: Path) -> None:
    config = load_config(copy_reference(tmp_path))
    assert _layout(config) == _layout(Config(root=tmp_path))
    assert all(_origins(config)[key] == "default" for key in (
        "streams", "sources", "dbt-project", "generator", "terraform"))


def test_dag_layout_is_detected(tmp_path: Path) -> None:
    config = load_config(copy_reference_dag(tmp_path))
    assert _layout(config) == DAG_DETECTED


def test_dag_layout_with_no_config_is_as_clean_as_the_reference(tmp_path: Path) -> None:
    assert codes(check_tree(copy_reference_dag(tmp_path))) == []


def test_source_folder_missing_from_model_paths_is_still_read_and_reported(
    tmp_path: Path, cli: CliRunner
) -> None:
    """The acceptance case: a `dag`-layout copy, no config file, gorgias left out of
    model-paths. Its models are read (the folder holding one folder per source is detected, not
    taken from model-paths), so LL304 reports the folder dbt never builds."""
    root = copy_reference_dag(tmp_path, unlisted_source="gorgias")
    assert not (root / "lotus-check.toml").exists() and not (root / "pyproject.toml").exists()
    code, out, err = cli("--root", str(root), "--no-cache", "--output-format", "json")
    assert code == 1, err
    import json

    findings = json.loads(out)["findings"]
    assert [(f["code"], f["path"], f["line"]) for f in findings] == [
        ("LL304", "orchestration/dbt_project.yml", 8)
    ]
    assert "orchestration/dag/processed/gorgias" in findings[0]["message"]
    assert findings[0]["hint"] == "add `- dag/processed/gorgias` to `model-paths` in " \
                                  "orchestration/dbt_project.yml"

    code, out, err = cli("--root", str(root), "--show-settings")
    assert code == 0 and err == ""
    shown = dict(line.split(" = ", 1) for line in out.splitlines() if not line.startswith("#"))
    assert shown["streams"].startswith('"orchestration/dag/streams"  # detected')
    # where the default is there, it is used as it is
    assert shown["dbt-project"] == '"orchestration/dbt_project.yml"  # default'
    assert shown["models"].startswith(
        '["orchestration/dag/processed", "orchestration/dag/enriched"]  # detected: model-paths'
    )
    assert shown["dbt-project"] == '"orchestration/dbt_project.yml"  # default'


def _custom_tree(make_repo: Callable[..., Path], project: str) -> Path:
    """A layout only `model-paths` describes: the dbt project in `dbt/`, staging models per
    source, marts by area, stream configs and source schemas under `platform/`."""
    return make_repo({
        "platform/streams/shopify/orders.json": stream_config("orders"),
        "platform/schemas/shopify/orders.json": source_schema("orders"),
        "dbt/dbt_project.yml": project,
        "dbt/models/staging/shopify/int_shopify__orders.sql":
            "{{ config(tags=['core', 'shopify__orders']) }}\nselect id from "
            "{{ source('shopify', 'orders') }}\n",
        "dbt/models/marts/sales/fct_sales.sql": "select id from {{ ref('int_shopify__orders') }}\n",
        # dbt's macros are SQL too, named in any scheme: never a model folder.
        "dbt/macros/int_cast.sql": "{% macro int_cast(x) %}cast({{ x }} as int){% endmacro %}\n",
    })


def test_custom_layout_from_model_paths(make_repo: Callable[..., Path]) -> None:
    root = _custom_tree(make_repo, "name: x\nmodel-paths: [models/staging, models/marts]\n")
    config = load_config(root)
    assert config.streams == "platform/streams"
    assert config.sources == "platform/schemas"
    assert config.dbt_project == "dbt/dbt_project.yml"
    assert config.models == ("dbt/models/staging", "dbt/models/marts")


def test_dbt_default_models_folder_stands_for_its_subject_folders(
    make_repo: Callable[..., Path]
) -> None:
    """No model-paths: dbt reads `models/`; its `staging/` holds one folder per source."""
    root = _custom_tree(make_repo, "name: x\n")
    assert load_config(root).models == ("dbt/models/staging", "dbt/models/marts")


def test_sibling_folder_of_models_missing_from_model_paths_is_read(
    make_repo: Callable[..., Path]
) -> None:
    root = _custom_tree(make_repo, "name: x\nmodel-paths:\n  - models/staging\n")
    config = load_config(root)
    assert config.models == ("dbt/models/staging", "dbt/models/marts")
    assert [(c, p) for c, p, _l, _c in codes(check_tree(root)) if c == "LL304"] == [
        ("LL304", "dbt/dbt_project.yml")
    ]


def test_config_keys_win_and_the_rest_is_detected(tmp_path: Path) -> None:
    root = copy_reference_dag(tmp_path)
    (root / "lotus-check.toml").write_text('# pinned\nignore = ["LL303"]\n\nstreams = "orchestration/dag/streams"\n')
    config = load_config(root)
    assert _layout(config) == DAG_DETECTED
    origins = _origins(config)
    assert origins["streams"] == "lotus-check.toml:4"
    assert origins["ignore"] == "lotus-check.toml:2"
    assert origins["sources"].startswith("detected")


def test_configured_dbt_project_anchors_model_detection(tmp_path: Path) -> None:
    root = copy_reference_dag(tmp_path)
    (root / "orchestration" / "dbt_project.yml").rename(root / "dbt_project.yml")
    text = (root / "dbt_project.yml").read_text().replace("- dag/", "- orchestration/dag/")
    (root / "dbt_project.yml").write_text(text)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.lotus-check]\n'
                                         'dbt-project = "dbt_project.yml"\n')
    config = load_config(root)
    assert config.models == DAG_DETECTED["models"]
    assert _origins(config)["dbt-project"] == "pyproject.toml:5"


# ---- ambiguity --------------------------------------------------------------------------------


def test_two_stream_configs_folders_exit_2_listing_both(tmp_path: Path, cli: CliRunner) -> None:
    root = copy_reference_dag(tmp_path)
    old = root / "orchestration/dag/streams/shopify"
    new = root / "orchestration/old/streams/shopify"
    new.mkdir(parents=True)
    (new / "orders.json").write_bytes((old / "orders.json").read_bytes())
    code, out, err = cli("--root", str(root))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "orchestration/dag/streams, orchestration/old/streams" in err
    assert "set `streams = " in err
    # The key set in config settles it.
    (root / "lotus-check.toml").write_text('streams = "orchestration/dag/streams"\n')
    code, out, err = cli("--root", str(root), "--no-cache")
    assert code == 0, err


def test_a_copy_outside_the_dbt_project_folder_is_not_a_candidate(tmp_path: Path) -> None:
    """A fixture copy of a tree (tests/fixtures/...) is not ambiguous with the platform's own
    folders: candidates inside the dbt project's folder win."""
    root = copy_reference(tmp_path)
    fixture = root / "orchestration/tests/fixtures/streams/shopify"
    fixture.mkdir(parents=True)
    (fixture / "orders.json").write_bytes((root / STREAMS / "shopify/orders.json").read_bytes())
    assert load_config(root).streams == STREAMS


def test_skipped_and_too_deep_folders_are_not_searched(tmp_path: Path) -> None:
    root = copy_reference(tmp_path)
    data = (root / STREAMS / "shopify/orders.json").read_bytes()
    for folder in ("orchestration/node_modules/pkg/streams/shopify",
                   "orchestration/.cache/streams/shopify",
                   "orchestration/target/streams/shopify",
                   "orchestration/" + "/".join(["deep"] * layout.MAX_DEPTH) + "/streams/shopify"):
        (root / folder).mkdir(parents=True)
        (root / folder / "orders.json").write_bytes(data)
    assert load_config(root).streams == STREAMS


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_special_and_linked_files_are_not_opened(tmp_path: Path) -> None:
    """A FIFO named like a stream config would block a plain open() forever; a link may lead
    out of the root. Detection reads neither (in a child process, so a hang fails the test)."""
    import os

    root = copy_reference(tmp_path)
    os.mkfifo(root / STREAMS / "shopify" / "aaa.json")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text('{"stream": "x", "sync_mode": "incremental"}')
    (root / "orchestration/other/streams/x").mkdir(parents=True)
    (root / "orchestration/other/streams/x/x.json").symlink_to(outside)
    script = ("import sys; from pathlib import Path; from lotus_checks.core.config import load_config; "
              "print(load_config(Path(sys.argv[1])).streams)")
    out = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert (out.returncode, out.stdout.strip()) == (0, STREAMS), out.stderr


def test_walk_stops_at_its_entry_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_reference_dag(tmp_path)
    monkeypatch.setattr(layout, "MAX_ENTRIES", 5)
    tree = layout._walk(root)
    assert tree.truncated and len(tree.folders) < 5
    config = load_config(root)  # nothing found: the defaults, and the reason shown
    assert _origins(config)["streams"].startswith("default: the tree is too large")


# ---- what each kind of file is ----------------------------------------------------------------


def test_generator_is_the_script_writing_catalogs(make_repo: Callable[..., Path]) -> None:
    writes = "import json\nwith open(path / '_catalog.json', 'w') as f:\n    json.dump(c, f)\n"
    root = make_repo({
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
        "orchestration/dbt_project.yml": "name: x\n",
        "orchestration/scripts/build.py": writes,
        # Mentions the file (a Dagster factory skipping it) but never writes it.
        "orchestration/dagster/assets.py": "SKIP = '_catalog.json'\nprint(json.dumps(x))\n",
    })
    assert load_config(root).generator == "orchestration/scripts/build.py"


def test_terraform_folder_is_the_one_with_airbyte_connections(
    make_repo: Callable[..., Path]
) -> None:
    root = make_repo({
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
        "infra/network/main.tf": 'resource "aws_vpc" "main" {}\n',
        "infra/airbyte/main.tf": 'resource "airbyte_connection" "shopify" {}\n',
        "infra/airbyte/modules/x/main.tf": 'resource "airbyte_connection" "other" {}\n',
    })
    assert load_config(root).terraform == "infra/airbyte"


def test_source_schemas_are_told_from_stream_configs(make_repo: Callable[..., Path]) -> None:
    root = make_repo({
        "lake/configs/shopify/orders.json": stream_config("orders"),
        "lake/offered/shopify/orders.json": source_schema("orders"),
        "web/i18n/en/messages.json": {"hello": "Hello"},
    })
    config = load_config(root)
    assert (config.streams, config.sources) == ("lake/configs", "lake/offered")


@pytest.mark.parametrize("stray", ["config", "schema"])
def test_a_file_of_the_other_shape_does_not_make_two_candidates(
    make_repo: Callable[..., Path], stray: str
) -> None:
    """One stream per source: a stream config written like a source schema (or the reverse) is
    a finding about that file, not a second folder of the other kind."""
    config, schema = stream_config("orders"), source_schema("orders")
    files = {f"{STREAMS}/shopify/orders.json": schema if stray == "config" else config,
             f"{SOURCES}/shopify/orders.json": config if stray == "schema" else schema}
    loaded = load_config(make_repo(files))
    assert (loaded.streams, loaded.sources) == (STREAMS, SOURCES)


def test_json_nested_too_deeply_to_decode_is_no_vote(make_repo: Callable[..., Path]) -> None:
    root = make_repo({
        f"{STREAMS}/shopify/aaa.json": "[" * 100_000 + "]" * 100_000,
        f"{STREAMS}/shopify/orders.json": stream_config("orders"),
    })
    assert load_config(root).streams == STREAMS


def test_empty_tree_keeps_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert _layout(config) == _layout(Config(root=tmp_path))
    assert _origins(config)["streams"] == "default"


@pytest.mark.parametrize("text", [
    "model-paths:\n  - a/b\n  - \"c\"  # note\nvars:\n  x: 1\n",
    "model-paths: [a, 'b']\nmacro-paths: [\"m\"]\n",
    "model-paths:\n- a\n- b\nname: x\n",
    "model-paths:\n  - a # one\n  # a comment\n\n  - b\n",
    "model-paths: []\n",
    "name: x\n",
    "model-paths: &paths\n  - a\n",
    "model-paths:\n  nested: 1\n",
    "model-paths: models\n",
    "model-paths:\n  - a: b\n",
    "---\nmodel-paths: [a]\n",
])
def test_quick_path_keys_read_what_yaml_reads_or_step_aside(text: str) -> None:
    quick = layout._path_keys(text)
    if quick is not None:
        data = yaml.safe_load(text)
        assert quick == {k: v for k, v in data.items() if k in layout._PATH_KEYS}


# ---- configured paths must exist --------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("dbt-project", "orchestration/dbt/dbt_project.yml"),
    ("streams", "orchestration/streams"),
    ("models", ["orchestration/assets/core", "orchestration/assets/mart"]),
    ("generator", "orchestration/airbyte"),
])
def test_configured_layout_path_that_does_not_exist_exits_2(
    tmp_path: Path, cli: CliRunner, key: str, value: object
) -> None:
    root = copy_reference(tmp_path)
    toml_value = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\n[tool.lotus-check]\n'
                                         f'{key} = {toml_value}\n')
    code, out, err = cli("--root", str(root), "--no-cache")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"lotus-check: error: pyproject.toml:4: {key} = ")
    assert ("does not exist" in err) or ("is not a file" in err)
    assert "remove the key to detect it" in err


def test_configured_layout_paths_that_exist_run(tmp_path: Path, cli: CliRunner) -> None:
    root = copy_reference(tmp_path)
    (root / "lotus-check.toml").write_text(
        f'streams = "{STREAMS}"\nsources = "{SOURCES}"\nmodels = ["{CORE}", "{MARTS}"]\n'
        'dbt-project = "orchestration/dbt_project.yml"\n'
        'generator = "orchestration/airbyte/generate-catalog.py"\n'
        'terraform = "orchestration/airbyte/terraform"\n'
    )
    code, out, err = cli("--root", str(root), "--no-cache")
    assert (code, err) == (0, ""), out


# ---- --show-settings and init -----------------------------------------------------------------


def test_show_settings_names_every_origin(tmp_path: Path, cli: CliRunner) -> None:
    root = copy_reference(tmp_path)
    (root / "lotus-check.toml").write_text(
        'terraform = "orchestration/airbyte/missing"\n[per-file-ignores]\n"a/*" = ["LL303"]\n'
    )
    code, out, err = cli("--root", str(root), "--show-settings", "--select", "LL4")
    assert code == 0 and err == ""
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert lines["terraform"] == ('terraform = "orchestration/airbyte/missing"  '
                                  "# lotus-check.toml:1 (does not exist)")
    assert lines["per-file-ignores"] == 'per-file-ignores = {"a/*" = ["LL303"]}  # lotus-check.toml:2'
    assert lines["select"] == 'select = ["LL4"]  # command line'
    assert lines["layers"] == 'layers = ["stg", "int", "fct", "dim"]  # default'
    assert lines["streams"] == f'streams = "{STREAMS}"  # default'  # the default is there
    # Every key is shown, and the output is TOML (the comments aside) a config file accepts.
    import tomllib

    from lotus_checks.core.config import _KEYS

    data = tomllib.loads("\n".join(line.split("  # ")[0] for line in out.splitlines()))
    unset = {line.split()[1] for line in out.splitlines() if line.endswith(" is not set") or
             " is not set  # " in line}
    assert set(data) | unset == set(_KEYS) and not set(data) & unset


def test_init_writes_lotus_check_toml_that_reproduces_detection(
    tmp_path: Path, cli: CliRunner
) -> None:
    root = copy_reference_dag(tmp_path)
    code, out, err = cli("init", "--root", str(root))
    assert code == 0, err
    written = (root / "lotus-check.toml").read_text()
    assert out == f"lotus-check: wrote the detected layout to {root / 'lotus-check.toml'}:\n" \
        + written
    assert 'streams = "orchestration/dag/streams"\n' in written
    assert 'models = ["orchestration/dag/processed", "orchestration/dag/enriched"]\n' in written
    config = load_config(root)
    assert _layout(config) == DAG_DETECTED
    assert _origins(config)["models"] == "lotus-check.toml:3"
    # Never over an existing config.
    code, _out, err = cli("init", "--root", str(root))
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert (root / "lotus-check.toml").read_text() == written


def test_init_appends_to_pyproject_and_leaves_the_rest(tmp_path: Path, cli: CliRunner) -> None:
    root = copy_reference(tmp_path)
    before = b'[project]\nname = "lake"\n\n[tool.ruff]\nline-length = 100'
    (root / "pyproject.toml").write_bytes(before)
    code, _out, err = cli("init", "--root", str(root))
    assert code == 0, err
    after = (root / "pyproject.toml").read_bytes()
    assert after.startswith(before + b"\n\n[tool.lotus-check]\n")
    assert not (root / "lotus-check.toml").exists()
    assert _origins(load_config(root))["streams"] == "pyproject.toml:8"
    code, _out, err = cli("init", "--root", str(root))
    assert code == 2 and "already has [tool.lotus-check]" in err
    assert (root / "pyproject.toml").read_bytes() == after


def test_init_with_no_layout_writes_nothing(tmp_path: Path, cli: CliRunner) -> None:
    code, _out, err = cli("init", "--root", str(tmp_path))
    assert code == 2 and "no Lotus Lake layout" in err
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_ambiguous_layout(tmp_path: Path, cli: CliRunner) -> None:
    root = copy_reference_dag(tmp_path)
    (root / "orchestration/old/streams/shopify").mkdir(parents=True)
    (root / "orchestration/old/streams/shopify/_catalog.json").write_text("{}")
    code, _out, err = cli("init", "--root", str(root))
    assert code == 2 and "orchestration/old/streams" in err
    assert not (root / "lotus-check.toml").exists()


def test_the_default_layout_is_used_where_it_is_there(tmp_path: Path) -> None:
    """A second folder of stream configs (a fixture, an old copy) beside the default one does
    not make the default layout ambiguous."""
    root = copy_reference(tmp_path)
    (root / "orchestration/old/streams/x").mkdir(parents=True)
    (root / "orchestration/old/streams/x/_catalog.json").write_text("{}")
    assert load_config(root).streams == STREAMS


def test_ambiguity_names_the_key_even_without_config_error(tmp_path: Path) -> None:
    root = copy_reference_dag(tmp_path)
    (root / "orchestration/old/streams/x").mkdir(parents=True)
    (root / "orchestration/old/streams/x/_catalog.json").write_text("{}")
    with pytest.raises(ConfigError, match="candidates for the stream configs folder"):
        load_config(root)


def test_a_copy_under_tests_does_not_make_the_layout_ambiguous(tmp_path: Path) -> None:
    """Test data shaped like the layout, inside the dbt project's folder too."""
    root = copy_reference_dag(tmp_path)
    fixture = root / "orchestration/tests/fixtures/streams/shopify"
    fixture.mkdir(parents=True)
    (fixture / "orders.json").write_bytes(
        (root / "orchestration/dag/streams/shopify/orders.json").read_bytes())
    assert load_config(root).streams == "orchestration/dag/streams"
