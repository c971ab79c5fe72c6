"""The integrations' config blocks, path mapping and change folding (no network)."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, masked_raw, parse_config
from gateway.integrations.mediaservers import map_path
from gateway.library.treediff import TreeChange


def test_media_server_and_rclone_blocks_parse_and_mask() -> None:
    raw = {"media_servers": [{"type": "Jellyfin", "url": "http://jf:8096/", "token": "jellyfin-key-123",
                              "path_map": {"/mnt/gw/": "/data/gw", "/mnt": "/other"}}],
           "rclone_rc": {"url": "http://127.0.0.1:5572", "username": "rc", "password": "rc-password"}}
    cfg = parse_config(raw)
    server = cfg.media_servers[0]
    assert (server.type, server.url, server.name) == ("jellyfin", "http://jf:8096", "jellyfin http://jf:8096")
    assert server.path_map == (("/mnt/gw", "/data/gw"), ("/mnt", "/other"))   # longest first
    assert cfg.rclone_rc.enabled and not parse_config({}).rclone_rc.enabled and parse_config({}).media_servers == ()
    shown = masked_raw(raw)
    assert shown["media_servers"][0]["token"] == "****-123" and shown["rclone_rc"]["password"] == "****word"


@pytest.mark.parametrize("raw, key", [
    ({"media_servers": [{"type": "kodi", "url": "http://k"}]}, "media_servers[0].type"),
    ({"media_servers": [{"type": "plex"}]}, "media_servers[0].url"),
    ({"media_servers": [{"type": "plex", "url": "ftp://x"}]}, "media_servers[0].url"),
    ({"media_servers": [{"type": "plex", "url": "http://x", "path_map": {"rel": "/x"}}]},
     "media_servers[0].path_map.rel"),
    ({"media_servers": [{"type": "plex", "url": "http://x", "tokn": "t"}]}, "media_servers[0].tokn"),
    ({"rclone_rc": {"url": "http://x", "pass": "p"}}, "rclone_rc.pass"),
])
def test_bad_blocks_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert key in str(err.value)


def test_map_path_takes_the_longest_prefix_on_whole_components() -> None:
    pairs = (("/mnt/gw", "/data/gw"), ("/mnt", "/other"))
    assert map_path("/mnt/gw/__all__/X", pairs) == "/data/gw/__all__/X"
    assert map_path("/mnt/gwx/Y", pairs) == "/other/gwx/Y"
    assert map_path("/elsewhere/Z", pairs) == "/elsewhere/Z"


def test_a_later_change_wins_when_folded() -> None:
    change = TreeChange(deleted={"__all__/A"}, created={"__all__/B"})
    change.merge(TreeChange(created={"__all__/A"}, deleted={"__all__/B"}))
    assert change.payload() == {"created": ["__all__/A"], "modified": [], "deleted": ["__all__/B"]}
