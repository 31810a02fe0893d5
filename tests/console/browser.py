"""Shared by the console's browser test and shoot.py: a headless Debian
chromium driven by Debian's chromedriver through python3-selenium, logged in
to a console through its one-time address."""

import json
import os
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def make_driver(width=1280, height=1000):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--lang=nl-NL", f"--window-size={width},{height}", "--disable-extensions",
                "--no-first-run", "--password-store=basic"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for_info(path, process=None, timeout=120):
    """The console_region's info file, once it serves."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"console_region stopped with exit code {process.returncode}")
        time.sleep(0.2)
    raise RuntimeError(f"console_region did not start within {timeout} s")


def screenshot(driver, path, width=1280):
    """The whole page, however long."""
    height = driver.execute_script(
        "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, max(600, min(int(height) + 40, 6000)))
    time.sleep(0.2)
    driver.save_screenshot(path)
    driver.set_window_size(width, 1000)
