"""What users read: reporters, `explain`, the generated rule docs, the progress line."""
