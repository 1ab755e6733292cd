"""What makes a warm run fast: the content-keyed cache and the result replay."""
