"""SQL models: Jinja rendering with a source map (render.py, sourcemap.py)."""
