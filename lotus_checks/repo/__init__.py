"""The repo model: what the tree holds, loaded once per run (knows no rule, no cache)."""
