"""The HTML folder page a browser gets for a GET of a WebDAV collection.

Ours, not WsgiDAV's ``dir_browser``: that one loads scripts and styles from
``/:dir_browser/``, which our Content-Security-Policy (``default-src 'none'``)
forbids, and lists through the generic resource path that PROPFIND avoids.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from urllib.parse import quote

from fs.vfs import Entry

HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
           ("X-Content-Type-Options", "nosniff"),
           ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"), ("DAV", "1")]
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_PAGE_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
               "table{border-collapse:collapse}td,th{padding:.2em 1em;text-align:left}"
               "td.n{text-align:right;font-variant-numeric:tabular-nums}tr:hover{background:#f3f3f3}"
               "a{text-decoration:none}a:hover{text-decoration:underline}")


def human_size(size: int) -> str:
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"   # not reached


def _href(mount_path: str, parts: list[str], is_dir: bool) -> str:
    """An absolute link: the mount path (with url_base), each segment percent-encoded."""
    tail = "".join("/" + quote(part, safe="") for part in parts)
    return html.escape(f"{mount_path}{tail}{'/' if is_dir else ''}" or "/", quote=True)


def folder_page(mount_path: str, path: str, members: Iterable[Entry]) -> bytes:
    """The HTML listing of one folder: folders first, then files, by name; every
    name escaped, every link percent-encoded per segment under ``mount_path``."""
    mount_path = mount_path.rstrip("/")
    parts = [p for p in path.split("/") if p]
    title = html.escape("/" + "/".join(parts) + ("/" if parts else ""))
    rows = []
    if parts:
        rows.append(f'<tr><td><a href="{_href(mount_path, parts[:-1], True)}">../</a></td>'
                    '<td class="n"></td><td></td></tr>')
    ordered = sorted(members, key=lambda e: (not e.is_dir, e.name))
    for entry in ordered:
        shown = html.escape(entry.name + ("/" if entry.is_dir else ""), quote=True)
        modified = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.mtime))
        rows.append(f'<tr><td><a href="{_href(mount_path, [*parts, entry.name], entry.is_dir)}">{shown}</a></td>'
                    f'<td class="n" title="{entry.size} bytes">{human_size(entry.size)}</td>'
                    f"<td>{modified}</td></tr>")
    folders = sum(1 for e in ordered if e.is_dir)
    summary = f"{folders} folder{'s' if folders != 1 else ''}, {len(ordered) - folders} " \
              f"file{'s' if len(ordered) - folders != 1 else ''}"
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Index of {title}</title><style>{_PAGE_STYLE}</style></head><body>"
            f"<h1>Index of {title}</h1><p>{summary}</p>"
            "<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></body></html>\n")
    return page.encode("utf-8")
