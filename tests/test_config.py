from __future__ import annotations

from pathlib import Path

import pytest

from lotus_checks.core.config import Config
from lotus_checks.core.config import ConfigError
from lotus_checks.core.config import find_root
from lotus_checks.core.config import load_config
from lotus_checks.core.config import with_overrides


def test_defaults_are_the_lotus_lake_layout(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.streams == "orchestration/assets/streams"
    assert config.models == ("orchestration/assets/core", "orchestration/assets/marts")
    assert config.source == "defaults"


def test_pyproject_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lotus-check]\nstreams = "dag/streams"\nmodels = ["dag/processed", "dag/enriched"]\n'
        'per-file-ignores = {"dag/legacy/*" = ["LL303"]}\nseverity = {LL303 = "warning"}\n'
    )
    config = load_config(tmp_path)
    assert config.streams == "dag/streams"
    assert config.models == ("dag/processed", "dag/enriched")
    assert config.per_file_ignores == (("dag/legacy/*", ("LL303",)),)
    assert config.severity == (("LL303", "warning"),)


def test_lotus_check_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.lotus-check]\nstreams = "a"\n')
    (tmp_path / "lotus-check.toml").write_text('streams = "b"\n')
    assert load_config(tmp_path).streams == "b"


def test_explicit_config_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('sources = "x/sources"\n')
    assert load_config(tmp_path, other).sources == "x/sources"
    pyproject = tmp_path / "sub" / "pyproject.toml"
    pyproject.parent.mkdir()
    pyproject.write_text('[tool.lotus-check]\nsources = "y"\n')
    assert load_config(tmp_path, pyproject).sources == "y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('stream = "x"\n', "unknown config key 'stream' (did you mean 'streams'?)"),
        ('zzz = 1\n', "unknown config key 'zzz'"),
        ('streams = 3\n', "streams must be a non-empty string"),
        ('streams = "../outside"\n', "resolves outside the root"),
        ('streams = "/etc"\n', "must be relative to the root"),
        ('select = ["E501"]\n', "'E501' is not a rule code"),
        ('severity = {LL401 = "fatal"}\n', "must be \"error\" or \"warning\""),
        ('models = []\n', "non-empty list of folders"),
        ('streams = "a\n', "invalid TOML"),
        ('generator-timeout = -1\n', "positive number of seconds"),
        ('generator-timeout = inf\n', "positive number of seconds"),
        ('generator-timeout = nan\n', "positive number of seconds"),
        ('layers = ["Int"]\n', "lowercase layer prefixes"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "lotus-check.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_symlinked_folder_leaving_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "streams").symlink_to(outside)
    (root / "lotus-check.toml").write_text('streams = "streams"\n')
    with pytest.raises(ConfigError, match="outside the root"):
        load_config(root)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, tmp_path / "nope.toml")


def test_command_line_select_replaces_and_ignore_extends(tmp_path: Path) -> None:
    config = Config(root=tmp_path, select=("LL1",), ignore=("LL101",))
    changed = with_overrides(config, select=["ll4"], ignore=["LL402"])
    assert changed.select == ("LL4",)
    assert changed.ignore == ("LL101", "LL402")


def test_find_root_is_the_git_top_level(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()


def test_runtime_vars_key(tmp_path: Path) -> None:
    (tmp_path / "lotus-check.toml").write_text('runtime-vars = ["file", "files"]\n', encoding="utf-8")
    assert load_config(tmp_path).runtime_vars == ("file", "files")
    assert Config(root=tmp_path).runtime_vars is None  # default: read from the Dagster code
    (tmp_path / "lotus-check.toml").write_text('runtime-vars = "file"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="runtime-vars"):
        load_config(tmp_path)
