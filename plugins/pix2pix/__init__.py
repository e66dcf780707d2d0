"""pix2pix plugin (under construction)."""
