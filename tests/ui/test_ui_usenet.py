"""The usenet servers in the UI, in real headless Chromium against the NNTP emulator: the
settings and setup pages list, add, edit and remove servers with a live login check and never
show a password; the dashboard and stats page show each server's figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulators.usenet.release import build_release
from tests.integration.test_usenet import PART, PASSWORD, USER, Usenet, addfile, finished, media, usenet
from tests.ui.test_ui import By, browser, driver, fill, visible, wait  # test_ui skips without chromedriver

__all__ = ["browser", "driver", "usenet"]   # fixtures, imported for pytest


def server_css(index: int, field: str = "") -> str:
    css = f".usenet-server[data-index='{index}']"
    return f"{css} input[data-field='{field}']" if field else css


def stored(gateway: Any) -> list[dict[str, Any]]:
    raw = json.loads((Path(gateway.config.config_dir) / "config.json").read_text())
    return list(raw["usenet"]["providers"])


def click(driver: Any, css: str) -> None:
    """Scrolled to the middle first: the settings form's sticky save bar may cover the bottom."""
    node = visible(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    node.click()


def check_login(driver: Any, index: int, expect: str) -> str:
    click(driver, f"{server_css(index)} .usenet-check")
    wait(driver, 20).until(lambda d: expect in d.find_element(By.CSS_SELECTOR, f"{server_css(index)} .usenet-result").text)
    return str(driver.find_element(By.CSS_SELECTOR, f"{server_css(index)} .usenet-result").text)


def test_settings_list_add_check_edit_and_remove_usenet_servers(driver: Any, usenet: Usenet) -> None:
    gateway = usenet.start_gateway()
    b = f"http://127.0.0.1:{gateway.port}"
    driver.get(f"{b}/settings")
    password = visible(driver, server_css(0, "password"))
    assert password.get_attribute("type") == "password"
    assert password.get_attribute("value").startswith("****") and PASSWORD not in driver.page_source
    assert visible(driver, server_css(0, "host")).get_attribute("value") == "127.0.0.1"
    assert "Login works (primary)" in check_login(driver, 0, "Login works")      # the masked password is used
    click(driver, "#usenet-add")
    fill(driver, server_css(1, "name"), "second")
    fill(driver, server_css(1, "host"), "127.0.0.1")
    fill(driver, server_css(1, "port"), str(usenet.server.port))
    fill(driver, server_css(1, "username"), USER)
    fill(driver, server_css(1, "password"), "not-the-password")
    click(driver, server_css(1, "backup"))
    assert "login" in check_login(driver, 1, "Login failed")
    fill(driver, server_css(1, "password"), PASSWORD)
    check_login(driver, 1, "Login works (second)")
    fill(driver, server_css(0, "max_connections"), "8")
    click(driver, "#usenet-save")
    assert "next start" in visible(driver, "#usenet-saved").text
    servers = stored(gateway)
    assert [s["name"] for s in servers] == ["primary", "second"]
    assert servers[0]["password"] == PASSWORD and servers[0]["max_connections"] == 8   # masked: the stored one kept
    assert servers[1]["password"] == PASSWORD and servers[1]["backup"] is True
    assert PASSWORD not in driver.page_source                                        # reloaded masked
    click(driver, f"{server_css(1)} .usenet-remove")
    click(driver, "#usenet-save")
    wait(driver).until(lambda d: len(stored(gateway)) == 1)
    assert stored(gateway)[0]["name"] == "primary" and stored(gateway)[0]["password"] == PASSWORD


def test_dashboard_and_stats_show_each_server(driver: Any, usenet: Usenet) -> None:
    title = "Show.S11E01.720p.WEB-UI"
    release = build_release([(f"{title}.mkv", media(title, 300_000))], name=title, part_size=PART,
                            store=usenet.store)
    gateway = usenet.start_gateway()
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    b = f"http://127.0.0.1:{gateway.port}"
    for page in ("dashboard", "stats"):
        driver.get(f"{b}/{page}")
        row = visible(driver, "#usenet-table tr[data-server='primary']")
        connections = row.find_element(By.CSS_SELECTOR, ".usenet-connections").text
        assert connections.endswith(" / 10"), connections
        assert int(row.find_element(By.CSS_SELECTOR, ".usenet-articles").text) >= 2   # the import's reads
        assert row.find_element(By.CSS_SELECTOR, ".usenet-missing").text == "0"
        assert row.find_element(By.CSS_SELECTOR, ".usenet-errors").text == "0"
        assert row.find_element(By.CSS_SELECTOR, ".usenet-state").text == "ok"
        assert row.find_element(By.CSS_SELECTOR, ".usenet-bytes").text not in ("", "0 B")


def test_setup_adds_a_usenet_server_after_a_login_check(driver: Any, usenet: Usenet) -> None:
    gateway = usenet.start_gateway(usenet={"providers": []})
    b = f"http://127.0.0.1:{gateway.port}"
    driver.get(f"{b}/setup")
    fill(driver, "#setup-username", "admin")
    fill(driver, "#setup-password", "correct horse")
    driver.find_element(By.ID, "user-submit").click()
    visible(driver, "#step-provider")
    visible(driver, "#usenet-add").click()
    fill(driver, server_css(0, "name"), "news")
    fill(driver, server_css(0, "host"), "127.0.0.1")
    fill(driver, server_css(0, "port"), str(usenet.server.port))
    fill(driver, server_css(0, "username"), USER)
    fill(driver, server_css(0, "password"), PASSWORD)
    check_login(driver, 0, "Login works (news)")
    click(driver, "#usenet-save")
    assert "next start" in visible(driver, "#usenet-saved").text
    [server] = stored(gateway)
    assert server["name"] == "news" and server["password"] == PASSWORD and server["port"] == usenet.server.port
    assert PASSWORD not in driver.page_source
