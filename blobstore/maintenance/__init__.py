"""Maintenance commands: garbage collection, integrity checks, bulk import, reports."""
