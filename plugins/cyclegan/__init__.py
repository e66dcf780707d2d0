"""cyclegan plugin (under construction)."""
