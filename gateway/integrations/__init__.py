"""Telling the rest of the stack that the tree changed (contract §9): media servers (Plex,
Jellyfin, Emby) and a user's rclone mount of the WebDAV tree. The one place their HTTP
APIs are spoken to; each listens on the event bus, batches, and never blocks an import."""
