"""Clients for the *arr apps (Sonarr, Radarr, ... v3 API)."""
