"""Gradscape's web layer: settings, the API, the pages, exports and the CLI."""
