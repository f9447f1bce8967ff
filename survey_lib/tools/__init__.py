"""Maintenance helpers for the course's own files (not used by the notebooks)."""
