"""Stand-in servers the tests run against (Sonarr / Radarr)."""
