"""Repair: find the media that no longer plays (scan) and fix it (process), one recorded step at a time."""
