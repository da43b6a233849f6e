"""Driving the drawing page in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``).

Used by the browser test and by ``docs/make_screenshot.py``. Selenium is told where the browser and its
driver are, and ``SE_OFFLINE`` keeps Selenium Manager from looking for them on the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Digits as strokes, in fractions of the canvas (x right, y down): what a hand would draw.
DIGITS: dict[str, list[list[tuple[float, float]]]] = {
    "2": [
        [
            (0.30, 0.33),
            (0.36, 0.23),
            (0.48, 0.17),
            (0.61, 0.19),
            (0.68, 0.28),
            (0.66, 0.40),
            (0.56, 0.52),
            (0.44, 0.64),
            (0.32, 0.78),
            (0.50, 0.78),
            (0.72, 0.77),
        ]
    ],  # fmt: skip
    "3": [
        [
            (0.30, 0.24),
            (0.44, 0.17),
            (0.60, 0.18),
            (0.67, 0.28),
            (0.61, 0.40),
            (0.47, 0.46),
            (0.62, 0.52),
            (0.69, 0.64),
            (0.62, 0.77),
            (0.46, 0.82),
            (0.30, 0.77),
        ]
    ],  # fmt: skip
    "7": [[(0.27, 0.22), (0.72, 0.22), (0.58, 0.45), (0.45, 0.82)]],
    # Three strokes, as a 4 is often drawn: its first stroke alone looks like another digit.
    "4": [[(0.55, 0.18), (0.30, 0.55), (0.70, 0.55)], [(0.58, 0.35), (0.58, 0.85)]],
}


PHONE = (390, 844)  # an iPhone 12-15's screen in CSS pixels


@contextmanager
def chromium(width: int = 1280, height: int = 1000, phone: bool = False, force_dark: bool = False) -> Iterator:
    """A headless Chromium under Selenium, closed afterwards; ``phone``: a 390x844 phone's screen (mobile
    viewport, touch), emulated through the DevTools protocol; ``force_dark``: Chrome's auto dark mode for web
    contents (Android's "darken websites"), which recolours pages that do not say they are light only."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    if force_dark:  # as on a phone in dark mode with it on: the auto dark mode and the system's dark theme
        options.add_argument("--enable-features=WebContentsForceDark")
        options.add_argument("--force-dark-mode")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    emulate(driver, width, height, phone)
    try:
        yield driver
    finally:
        driver.quit()


def emulate(driver, width: int = 1280, height: int = 1000, phone: bool = False) -> None:
    """The current tab's viewport exactly this size (a headless window's size counts the browser's own bars), or a
    phone's (:data:`PHONE`: mobile viewport, touch), through the DevTools protocol."""
    size = PHONE if phone else (width, height)
    metrics = {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": phone}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    if phone:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


@contextmanager
def new_tab(driver, width: int = 1280, height: int = 1000, phone: bool = False) -> Iterator:
    """A fresh tab of a running :func:`chromium` (``driver``) for one test, as :func:`chromium` would give
    (``width``, ``height``, ``phone``), closed afterwards: what a page set (its scripts, the emulation, the
    scripts added for new documents) is the tab's, and goes with it, while a browser's start costs a second
    of the suite per test. The page keeps nothing in storage or cookies that a next tab would see."""
    home = driver.current_window_handle  # the browser's first tab, blank, kept open between tests
    driver.switch_to.new_window("tab")
    try:
        emulate(driver, width, height, phone)
        yield driver
    finally:
        driver.close()
        driver.switch_to.window(home)


def draw(driver, canvas, strokes: list[list[tuple[float, float]]], step: float = 6.0) -> None:
    """Draw ``strokes`` on ``canvas`` with synthesised pointer events (press, moves every ``step`` pixels, release)."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = canvas.size["width"], canvas.size["height"]
    for stroke in strokes:
        points = [(x * width - width / 2, y * height - height / 2) for x, y in stroke]  # offsets from the centre
        actions = ActionChains(driver, duration=10)
        actions.move_to_element_with_offset(canvas, int(points[0][0]), int(points[0][1])).click_and_hold()
        here = points[0]
        for target in points[1:]:
            distance = max(abs(target[0] - here[0]), abs(target[1] - here[1]))
            parts = max(1, int(distance // step))
            for k in range(1, parts + 1):
                x = here[0] + (target[0] - here[0]) * k / parts
                y = here[1] + (target[1] - here[1]) * k / parts
                actions.move_to_element_with_offset(canvas, int(x), int(y))
            here = target
        actions.release().perform()


def count_requests(driver) -> None:
    """Count the page's POSTs from now on, in ``window.posts`` (its fetch, wrapped)."""
    driver.execute_script(
        """window.posts = 0;
        const original = window.fetch;
        window.fetch = (url, options) => { if (options && options.method === "POST") window.posts++;
                                           return original(url, options); };"""
    )


def wait_for_answer(driver, timeout: float = 30.0) -> dict:
    """Wait until the page shows an answer; return what it shows: class, preview pixels, reading-view rows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: (
            d.find_element(By.ID, "preview").get_attribute("data-ready") == "true"
            or d.find_element(By.ID, "error").text
        )
    )
    return driver.execute_script(
        """
        const preview = document.getElementById("preview");
        const pixels = preview.dataset.ready ? Array.from(preview.getContext("2d").getImageData(0, 0, 28, 28).data)
            .filter((_, i) => i % 4 === 0) : [];
        return {
          error: document.getElementById("error").textContent,
          big: document.getElementById("big").textContent,
          summary: document.getElementById("summary").textContent,
          bars: document.querySelectorAll("#bars .bar").length,
          preview_width: preview.width, preview_height: preview.height,
          preview_shown: preview.getBoundingClientRect().width,
          lit_pixels: pixels.filter((v) => v > 0).length,
          rows: Array.from(document.querySelectorAll("#reading .row")).map((r) => r.dataset.row),
          unread: Array.from(document.querySelectorAll("#reading .row.unread")).map((r) => Number(r.dataset.row)),
          cells_per_row: document.querySelector("#reading .row") ?
              document.querySelector("#reading .row").querySelectorAll(".cell").length : 0,
        };
        """
    )
