"""Exports: a shared link as a scene, the registry of formats, the renderers by kind, and the jobs that make the files."""
