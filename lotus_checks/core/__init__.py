"""Shared vocabulary: config and layout, findings, rules, selection, the check context, file loading, the store protocol."""
