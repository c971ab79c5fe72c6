"""The web UI in a real headless Chromium (selenium): setup, login, add, browse, settings, repair.

Needs chromium and chromedriver (Debian packages; scripts/test installs them as root).
Every wait is a WebDriverWait with a deadline; nothing sleeps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import SAMPLE, TOKEN, infohash, start_gateway

if shutil.which("chromedriver") is None:
    pytest.skip("needs chromedriver and chromium (Debian: chromium chromium-driver; scripts/test installs them as root)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

PASSWORD = "correct horse"
XSS_NAME = "<script>alert(1)</script>.mkv"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def driver(browser) -> Iterator[Any]:
    yield browser
    browser.delete_all_cookies()


def wait(driver: Any, timeout: float = 10) -> WebDriverWait:
    return WebDriverWait(driver, timeout)


def visible(driver: Any, css: str, timeout: float = 10) -> Any:
    return wait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def error_line(driver: Any) -> str:
    return str(visible(driver, "#error").text)


def fill(driver: Any, css: str, text: str) -> None:
    field = visible(driver, css)
    field.clear()
    field.send_keys(text)


def create_first_user(driver: Any, port: int) -> str:
    """A fresh gateway sends / to /setup; fill in its first step (the admin user). Returns the base URL."""
    b = f"http://127.0.0.1:{port}"
    driver.get(f"{b}/")
    wait(driver).until(ec.url_to_be(f"{b}/setup"))
    fill(driver, "#setup-username", "admin")
    fill(driver, "#setup-password", PASSWORD)
    driver.find_element(By.ID, "user-submit").click()
    return b


def test_first_run_setup_then_dashboard(driver, emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True, debrids=[])
    try:
        b = create_first_user(driver, gw.port)
        visible(driver, "#step-provider")
        Select(driver.find_element(By.ID, "setup-provider")).select_by_value("realdebrid")
        fill(driver, "#setup-api-key", "not-the-key")
        driver.find_element(By.CSS_SELECTOR, "#step-provider summary").click()
        fill(driver, "#setup-api-url", emulator.rd_api_url)
        driver.find_element(By.ID, "provider-check").click()
        wait(driver).until(lambda d: "Key check failed" in error_line(d))
        assert not driver.find_element(By.ID, "provider-next").is_displayed()
        fill(driver, "#setup-api-key", TOKEN)
        driver.find_element(By.ID, "provider-check").click()
        assert "Key works" in visible(driver, "#provider-result").text
        visible(driver, "#provider-next").click()
        fill(driver, "#setup-download-folder", str(tmp_path / "media"))
        fill(driver, "#setup-mount-path", str(tmp_path / "mnt"))
        driver.find_element(By.ID, "folders-submit").click()
        wait(driver).until(ec.url_to_be(f"{b}/dashboard"))
        assert visible(driver, "#current-user").text == "admin"
        stored = json.loads((Path(gw.config.config_dir) / "config.json").read_text())
        assert stored["debrids"] == [{"name": "realdebrid", "provider": "realdebrid", "api_key": TOKEN,
                                      "api_url": emulator.rd_api_url}]
        assert stored["download_folder"] == str(tmp_path / "media")
        assert stored["mount"] == {"mount_path": str(tmp_path / "mnt")}
    finally:
        gw.stop()


def test_setup_with_accounts_configured_names_them_and_asks_no_key(
        driver, emulator, tmp_path) -> None:
    """Issue 15 item 6: with accounts in the config (the demo's, a hand-written one) the setup
    went on to ask for a debrid key; now it goes from the user straight to the folders."""
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)   # one realdebrid account
    try:
        b = create_first_user(driver, gw.port)
        assert "realdebrid" in visible(driver, "#setup-configured").text
        assert not driver.find_element(By.ID, "step-provider").is_displayed()
        fill(driver, "#setup-download-folder", str(tmp_path / "media"))
        driver.find_element(By.ID, "folders-submit").click()
        wait(driver).until(ec.url_to_be(f"{b}/dashboard"))
        stored = json.loads((Path(gw.config.config_dir) / "config.json").read_text())
        assert stored["download_folder"] == str(tmp_path / "media") and "debrids" not in stored   # kept as it was
        driver.get(f"{b}/setup")   # coming back: the folders, with a way to add another account
        visible(driver, "#folders-add-account").click()
        visible(driver, "#setup-api-key")
    finally:
        gw.stop()


def test_login_and_logout(driver, emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        b = f"http://127.0.0.1:{gw.port}"
        assert requests.post(f"{b}/api/setup", json={"username": "admin", "password": PASSWORD}, timeout=10).ok
        driver.get(f"{b}/stats")
        wait(driver).until(ec.url_contains("/login?next="))
        fill(driver, "#username", "admin")
        fill(driver, "#password", "wrong password")
        driver.find_element(By.ID, "login-submit").click()
        wait(driver).until(lambda d: "wrong username or password" in error_line(d))
        fill(driver, "#password", PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        wait(driver).until(ec.url_to_be(f"{b}/stats"))
        assert visible(driver, "#current-user").text == "admin"
        driver.find_element(By.ID, "logout").click()
        wait(driver).until(ec.url_to_be(f"{b}/login"))
        driver.get(f"{b}/dashboard")
        wait(driver).until(ec.url_contains("/login?next="))
        visible(driver, "#login-form")
    finally:
        gw.stop()


def test_a_logged_in_page_sends_the_csrf_token(driver, emulator, tmp_path) -> None:
    """Settings → Regenerate with only the session cookie: app.js sends X-CSRF-Token from the page's meta."""
    gw = start_gateway(emulator, str(tmp_path / "c"), use_auth=True)
    try:
        b = f"http://127.0.0.1:{gw.port}"
        token = requests.post(f"{b}/api/setup", json={"username": "admin", "password": PASSWORD},
                              timeout=10).json()["api_token"]
        driver.get(f"{b}/settings")
        wait(driver).until(ec.url_contains("/login?next="))
        fill(driver, "#username", "admin")
        fill(driver, "#password", PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        wait(driver).until(ec.url_to_be(f"{b}/settings"))
        meta = driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content")
        assert len(meta) == 64
        wait(driver).until(lambda d: d.find_element(By.ID, "api-token").get_attribute("value") == token)
        driver.find_element(By.ID, "token-refresh").click()
        wait(driver).until(ec.alert_is_present()).accept()
        wait(driver).until(lambda d: visible(d, "#token-msg").text == "New token made")
        fresh = driver.find_element(By.ID, "api-token").get_attribute("value")
        assert fresh and fresh != token and gw.auth.api_token() == fresh
        assert not driver.find_element(By.ID, "error").is_displayed()
    finally:
        gw.stop()


@pytest.fixture()
def open_gateway(emulator, tmp_path):
    emulator.world.seed_library(TOKEN, [{"hash": infohash("xss"), "name": XSS_NAME,
                                         "files": [{"path": XSS_NAME, "size": 1000}],
                                         "added": "2024-03-02T10:00:00.000Z"}])
    gw = start_gateway(emulator, str(tmp_path / "c"))
    try:
        yield gw
    finally:
        gw.stop()


def test_add_a_magnet_and_see_it_on_the_dashboard(driver, open_gateway) -> None:
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/add")
    fill(driver, "#add-urls", f"magnet:?xt=urn:btih:{SAMPLE[1]['hash']}&dn=UI+Magnet")
    Select(driver.find_element(By.ID, "add-category")).select_by_value("radarr")
    driver.find_element(By.ID, "add-submit").click()
    added = visible(driver, "#added li")
    assert added.text
    driver.get(f"{b}/dashboard")
    row = visible(driver, f"#imports tr[data-hash='{SAMPLE[1]['hash']}']")
    assert "radarr" in row.text
    Select(driver.find_element(By.ID, "filter-category")).select_by_value("sonarr")
    wait(driver).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "#imports tbody tr")))


def test_browse_down_to_a_file(driver, open_gateway) -> None:
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/browse")
    visible(driver, "#listing a[href*='group=__all__']").click()
    link = wait(driver).until(ec.element_to_be_clickable((By.LINK_TEXT, "Tiny Movie 2020")))
    hostile = wait(driver).until(ec.visibility_of_element_located(
        (By.XPATH, "//td[contains(@class,'name')]/a[contains(., 'alert(1)')]")))
    assert "<script>" in hostile.text     # shown as text, not run
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    link.click()
    download = visible(driver, "#listing a.download")
    href = download.get_attribute("href")
    assert "/api/browse/download/Tiny%20Movie%202020/Tiny%20Movie%202020.mkv" in href
    assert requests.get(href, timeout=10).status_code == 200


def test_settings_error_shows_next_to_the_field(driver, open_gateway) -> None:
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/settings")
    fill(driver, "#f-max_active_downloads", "lots")
    driver.find_element(By.ID, "settings-save").click()
    message = visible(driver, ".field-error[data-error-for='max_active_downloads']")
    assert "whole number" in message.text
    assert "max_active_downloads" in error_line(driver)
    assert not (Path(open_gateway.config.config_dir) / "config.json").exists()   # nothing written
    fill(driver, "#f-max_active_downloads", "7")
    driver.find_element(By.ID, "settings-save").click()
    assert "next start" in visible(driver, "#settings-saved").text
    assert json.loads((Path(open_gateway.config.config_dir) / "config.json").read_text()) == \
        {"max_active_downloads": 7}


def test_repair_scan_error_is_shown(driver, open_gateway) -> None:
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/repair")
    visible(driver, "#jobs p")
    driver.find_element(By.ID, "scan-start").click()
    wait(driver).until(lambda d: "Could not start a scan" in error_line(d))
    assert not driver.find_element(By.ID, "scan-result").is_displayed()


def test_play_then_delete_a_torrent_from_browse(driver, open_gateway, emulator) -> None:
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/browse")
    visible(driver, "#listing a[href*='group=__all__']").click()
    wait(driver).until(ec.element_to_be_clickable((By.LINK_TEXT, "Tiny Movie 2020"))).click()
    visible(driver, "#listing button.play").click()                      # Play: the file in a <video>
    player = visible(driver, "#player")
    source = wait(driver).until(lambda d: d.find_element(By.ID, "player").get_attribute("src"))
    assert "/api/browse/download/Tiny%20Movie%202020/" in source and player.is_displayed()
    visible(driver, "#player-close").click()
    driver.find_element(By.ID, "delete-torrent").click()
    wait(driver).until(ec.alert_is_present()).accept()                   # the confirmation
    wait(driver, 20).until(lambda d: "Tiny Movie 2020" not in [e.name for e in open_gateway.vfs.listdir("/__all__")])
    tiny = next(e for e in SAMPLE if e["name"] == "Tiny Movie 2020")
    assert all(t.hash != tiny["hash"] for t in emulator.world.list_torrents(TOKEN))   # gone at the provider too
    assert not driver.find_element(By.ID, "error").is_displayed()


def test_a_disabled_account_is_red_with_its_reason(driver, open_gateway, emulator) -> None:
    emulator.world.revoke(TOKEN)
    open_gateway.library.syncs["realdebrid"].sync_all()   # the listing is refused: the account is disabled
    b = f"http://127.0.0.1:{open_gateway.port}"
    driver.get(f"{b}/dashboard")
    row = visible(driver, ".sync-row.account-disabled[data-account='realdebrid']")
    assert "key refused" in row.text and "since" in row.text
    assert row.value_of_css_property("color") != visible(driver, "#imports").value_of_css_property("color")
    driver.get(f"{b}/stats")
    cell = visible(driver, "#accounts .account-disabled")
    assert "disabled: key refused since" in cell.text
