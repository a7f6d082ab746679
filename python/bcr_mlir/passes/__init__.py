"""Passes of the bcr pipeline, one per file; registry.py maps kebab-case names to them."""
