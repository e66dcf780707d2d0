"""progan plugin (under construction)."""
