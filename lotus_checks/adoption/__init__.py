"""Adopting lotus-check in a repo: baseline, changed files, git, settings and init."""
