"""What every check receives: the config, the repo model and the run's scope."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lotus_checks.core.config import Config

if TYPE_CHECKING:
    from lotus_checks.repo.model import Repo


def no_progress(done: int, total: int) -> None:
    """The default `CheckContext.progress`: report nothing."""


@dataclass(frozen=True)
class CheckContext:
    config: Config
    repo: Repo
    # Files the run reports on (pre-commit's file list, --diff); None means the whole repo.
    # Checks still see the whole repo; they may use this to skip work nobody asked for.
    targets: frozenset[str] | None
    enabled: Callable[[str], bool]
    use_dbt: bool = False
    # progress(done, total): a long-running check reports files parsed so far; the CLI shows it
    # on a TTY after a second (never in pre-commit or CI logs). Cheap to call; call it per file.
    progress: Callable[[int, int], None] = no_progress
    # --unsafe-fixes: fixes that write a starting point for a person to review (a new model).
    unsafe_fixes: bool = False
    # When fixing: (code, path) of the findings the run reported; a fix resolves one of these.
    # None: every finding counts (a check's fix called on its own).
    reported: frozenset[tuple[str, str]] | None = None

    def is_reported(self, codes: str | tuple[str, ...], *paths: str) -> bool:
        """Whether the run reported a finding of `codes` at one of `paths` (what a fix needs)."""
        if self.reported is None:
            return True
        wanted = (codes,) if isinstance(codes, str) else codes
        return any((code, path) in self.reported for code in wanted for path in paths)

    def in_scope(self, path: str) -> bool:
        return self.targets is None or path in self.targets

    def any_in_scope(self, paths: list[str]) -> bool:
        return self.targets is None or any(p in self.targets for p in paths)
