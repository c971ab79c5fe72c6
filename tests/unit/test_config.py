from __future__ import annotations

import json
import os

import pytest

from gateway.config import (
    apply_env,
    load_config,
    masked_raw,
    parse_config,
    parse_duration,
    parse_rate,
    parse_size,
    read_raw,
    write_raw,
)
from gateway.errors import ConfigError

RD = {"name": "realdebrid", "api_key": "secret-key-1234"}


def test_sizes_and_durations() -> None:
    assert parse_size("k", "500MB") == 500 << 20
    assert parse_size("k", "1.5GiB") == int(1.5 * (1 << 30))
    assert parse_size("k", "") == 0 and parse_size("k", 42) == 42
    assert parse_duration("k", "1h30m") == 5400 and parse_duration("k", "3d") == 259200
    assert parse_duration("k", "1w") == 604800 and parse_duration("k", 5) == 5
    assert parse_rate("k", "250/minute") == (250, 60.0) and parse_rate("k", "off") is None


@pytest.mark.parametrize("raw, key", [
    ({"port": "abc"}, "port"), ({"port": 70000}, "port"), ({"refresh_interval": "10x"}, "refresh_interval"),
    ({"min_file_size": "lots"}, "min_file_size"), ({"folder_naming": "odd"}, "folder_naming"),
    ({"debrids": [{"name": "nosuch", "api_key": "k"}]}, "debrids[0].provider"),
    ({"debrids": [{"name": "realdebrid"}]}, "debrids[0].api_key"),
    ({"debrids": [{**RD, "rate_limit": "fast"}]}, "debrids[0].rate_limit"),
    ({"debrids": [{**RD, "api_url": "ftp://x"}]}, "debrids[0].api_url"),
    ({"custom_folders": {"A": {"filters": {"regex": "("}}}}, "custom_folders.A.filters.regex"),
    ({"custom_folders": {"A": {"filters": {"colour": "red"}}}}, "custom_folders.A.filters.colour"),
    ({"custom_folders": {"__all__": {"filters": {}}}}, "custom_folders.__all__"),
    ({"mount": {"type": "fuse"}}, "mount.mount_path"), ({"mount": {"chunk_size": "0"}}, "mount.chunk_size"),
    ({"use_auth": "maybe"}, "use_auth"), ({"typo_key": 1}, "typo_key"),
    ({"arrs": [{"name": "sonarr", "selected_debrid": "nope"}]}, "arrs[0].selected_debrid"),
])
def test_bad_values_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "/tmp/cfg")
    assert info.value.key == key
    assert key in str(info.value)


def test_defaults_and_decypharr_shapes() -> None:
    cfg = parse_config({"port": "8282", "debrids": [RD]}, "/tmp/cfg")
    assert cfg.port == 8282 and cfg.use_auth and cfg.categories == ("sonarr", "radarr")
    assert cfg.debrids[0].rate_limit == (250, 60.0)     # RD's documented budget
    assert cfg.download_folder == "/tmp/cfg/downloads" and cfg.mount.cache_dir == "/tmp/cfg/cache"
    assert cfg.debrids[0].torrents_refresh_interval == 300


def test_env_overrides_reach_scalars_and_list_items() -> None:
    raw = {"debrids": [{"name": "realdebrid", "api_key": "old"}]}
    merged = apply_env(raw, {"DECYPHARR_PORT": "9000", "DECYPHARR_DEBRIDS__0__API_KEY": "new",
                             "DECYPHARR_USE_AUTH": "false", "DECYPHARR_CONFIG_DIR": "/x"})
    cfg = parse_config(merged, "/tmp/cfg")
    assert cfg.port == 9000 and cfg.debrids[0].api_key == "new" and cfg.use_auth is False
    assert raw["debrids"][0]["api_key"] == "old"


def test_atomic_write_and_first_start(tmp_path) -> None:
    cfg = load_config(str(tmp_path), environ={})
    assert (tmp_path / "config.json").exists() and cfg.port == 8282
    write_raw(str(tmp_path), {"port": 1234})
    assert read_raw(str(tmp_path)) == {"port": 1234}
    assert oct(os.stat(tmp_path / "config.json").st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config.")] == []


def test_unreadable_json_is_a_config_error(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="config.json"):
        load_config(str(tmp_path), environ={})
    (tmp_path / "config.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(str(tmp_path), environ={})


def test_masking_keeps_last_four() -> None:
    masked = masked_raw({"debrids": [RD], "arrs": [{"name": "sonarr", "token": "abcdef123456"}]})
    assert masked["debrids"][0]["api_key"] == "****1234"
    assert masked["arrs"][0]["token"] == "****3456"
