"""The drawing page in headless Chromium: at every screen width, with two fingers on the pad, with files the server
refuses, and with a server that does not answer.

The server tests share test_serve.py's servers (tests/conftest.py: tiny checkpoints, served in subprocesses, started
once); the one of a server that hangs serves the page's file itself, from a thread. They share one Chromium too
(tests/conftest.py's ``browser``), each test in a tab of its own; the auto dark mode's test starts its own, with
the flags it needs.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from mnist_rnn.serve.app import PAGE
from tests import test_serve
from tests.helpers import fit_tiny_in, render_digit
from tests.page_driver import DIGITS, PHONE, chromium, count_requests, draw, new_tab, wait_for_answer
from tests.test_serve import SMALLEST_TEXT, state

LAYOUT = (
    """
    window.scrollTo(0, 0);
    const box = (selector) => document.querySelector(selector)?.getBoundingClientRect().toJSON() ?? null;
    return {
      scroll_width: document.scrollingElement.scrollWidth, client_width: document.documentElement.clientWidth,
      height: window.innerHeight, scroll_y: window.scrollY,
      pad: box("#pad"), buttons: box(".buttons"), big: box("#big"),
      preview: box("#preview"), reading: box("#reading"), column: box("#reading .row span"),
      key: box("#key"),
      key_parts: Array.from(document.querySelectorAll("#key > *"), (e) => e.getBoundingClientRect().toJSON()),
      smallest_text: """
    + SMALLEST_TEXT
    + """,
    };
"""
)


def layout(driver, width: int, height: int, mobile: bool = True) -> dict:
    """The page's boxes and its smallest text in a ``width`` x ``height`` viewport (a phone's, or with
    ``mobile=False`` a desktop window's, whose scroll bar takes part of its width), scrolled to the top. One
    script, without the pixel count of :func:`tests.test_serve.state`: the width sweep calls it hundreds of times."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver.execute_script(LAYOUT)


# Every tenth width up to where the page stops growing (main's 1120 px, and a desktop window's scroll bar; wider,
# only the margins grow and every box keeps its size, so 1400 stands for the rest), and those the page was seen
# to scroll sideways at: Androids (320, 360), the ends of the ranges that did (524-624 px, 824-944 px), an iPhone
# on its side (844) and a 900 px desktop window.
WIDTHS = sorted({*range(300, 1161, 10), 1400, 320, 360, 375, 412, 524, 624, 824, 844, 944})


@pytest.mark.slow
@pytest.mark.parametrize("served", ["server", "fashion_server"])
def test_the_page_fits_every_width_from_300_to_1400_pixels_and_a_phone_on_its_side(browser, served, request):
    # Fashion-MNIST's page also has the key naming its columns, which must wrap inside the card.
    fashion = served == "fashion_server"
    with new_tab(browser, phone=True) as driver:
        driver.get(request.getfixturevalue(served) + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""  # the reading view filled: its rows are the widest part
        too_wide, unreadable, apart, key_out = [], [], [], []
        for mobile in (True, False):
            for width in WIDTHS:
                page = layout(driver, width, 800, mobile)
                if page["scroll_width"] > page["client_width"]:
                    too_wide.append((width, mobile, page["scroll_width"]))
                # Shrunk to fit, but still a picture and ten columns one can read (labels of 12 px).
                if page["smallest_text"] < 12 or page["preview"]["height"] < 140 or page["column"]["width"] < 7:
                    unreadable.append((width, mobile, page["smallest_text"], page["preview"], page["column"]))
                preview, reading = page["preview"], page["reading"]
                if not (reading["left"] >= preview["right"] and abs(preview["top"] - reading["top"]) <= 1
                        and abs(preview["height"] - reading["height"]) <= 1):  # fmt: skip
                    apart.append((width, mobile, preview, reading))
                # Fashion's key: every name shown, and wrapped within the card rather than past its edge.
                key, parts = page["key"], page["key_parts"]
                if fashion and not (len(parts) == 11 and all(part["height"] > 0 for part in parts)
                                    and min(part["left"] for part in parts) >= key["left"]
                                    and max(part["right"] for part in parts) <= key["right"]):  # fmt: skip
                    key_out.append((width, mobile, key, parts))
        assert too_wide == [], "the page scrolls sideways at these widths"
        assert unreadable == [] and apart == [] and key_out == []

        # The phone the other tests use and the desktop window keep their sizes: nothing shrank that fitted.
        page = layout(driver, 390, 844)
        assert (page["preview"]["height"], page["reading"]["width"], page["pad"]["width"]) == (196, 100, 250)
        page = layout(driver, 1280, 1000, mobile=False)
        assert (page["preview"]["height"], page["reading"]["width"], page["pad"]["width"]) == (280, 220, 318)

        # Phones on their side (an iPhone SE, an Android, an iPhone 12-15): the pad and its buttons on the screen,
        # the answer beside them. The pad was 320 px tall from y=189, on a screen 360 px tall.
        for width, height in ((568, 320), (640, 360), (844, 390)):
            page = layout(driver, width, height)
            assert page["scroll_width"] <= width and page["scroll_y"] == 0
            assert page["pad"]["width"] >= 180 and page["pad"]["bottom"] <= height, (width, height)
            assert page["buttons"]["bottom"] <= height and page["big"]["bottom"] <= height, (width, height)
            assert page["big"]["left"] >= page["pad"]["right"]


PAD_PIXELS = """
    const pad = document.getElementById("pad"), data = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height);
    // The brightest pixel within 6 pixels of each point (x, y in fractions of the pad).
    return arguments[0].map(([x, y]) => { let most = 0;
      for (let dy = -6; dy <= 6; dy++) for (let dx = -6; dx <= 6; dx++) {
        const px = Math.round(x * pad.width) + dx, py = Math.round(y * pad.height) + dy;
        most = Math.max(most, data.data[4 * (py * pad.width + px)]); }
      return most; });
"""


@pytest.mark.slow
def test_a_second_finger_on_the_pad_neither_draws_nor_ends_the_stroke(browser, server):
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        count_requests(driver)
        pad = driver.execute_script("return document.getElementById('pad').getBoundingClientRect().toJSON()")

        def touch(kind: str, *points: tuple[int, float, float]) -> None:
            """Touch points by id, at fractions of the pad: touchStart and touchMove list those down, touchEnd
            those lifted."""
            at = [
                {"id": k, "x": pad["left"] + x * pad["width"], "y": pad["top"] + y * pad["height"]}
                for k, x, y in points
            ]
            driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": at})

        finger, thumb = (0, 0.3, 0.2), (1, 0.85, 0.85)
        touch("touchStart", finger)
        for y in (0.3, 0.4, 0.5):
            touch("touchMove", (0, 0.3, y))
        touch("touchStart", (0, 0.3, 0.5), thumb)  # a thumb comes to rest on the pad's corner
        for y in (0.55, 0.6):
            touch("touchMove", (0, 0.3, y), thumb)
        touch("touchEnd", thumb)  # ... and is lifted, while the finger still draws
        time.sleep(1.2)  # longer than the pause after which a stroke's end sends the drawing
        assert driver.execute_script("return window.posts") == 0, "lifting the thumb ended the stroke"
        for y in (0.7, 0.8):
            touch("touchMove", (0, 0.3, y))
        touch("touchEnd", (0, 0.3, 0.8))
        assert wait_for_answer(driver)["error"] == ""
        assert driver.execute_script("return window.posts") == 1

        # Ink along the finger's line, from its first point to its last, none where the thumb was, and no line
        # from the finger to the thumb.
        line = [(0.3, y) for y in (0.2, 0.5, 0.6, 0.7, 0.8)]
        thumb_and_between = [(0.85, 0.85), (0.7, 0.75), (0.55, 0.65)]
        lit = driver.execute_script(PAD_PIXELS, line + thumb_and_between)
        assert min(lit[: len(line)]) > 128 and max(lit[len(line) :]) == 0, lit


@pytest.mark.slow
def test_a_file_the_server_refuses_shows_the_error_alone(browser, server, tmp_path):
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff\xe0" + bytes(21 * 1024 * 1024))  # over the server's 20 MB; no picture to show
    drawing = tmp_path / "three.svg"  # shown on the pad: "not a picture" alone puzzled
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="90" height="90"><text y="80">3</text></svg>')
    iphone_photo = tmp_path / "iphone.heic"
    render_digit(5, canvas=(300, 400), size=250, ink=(30, 30, 40), paper=(230, 225, 215), mode="RGB").save(iphone_photo)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        hint = driver.find_element(By.ID, "hint")
        count_requests(driver)
        for file, error, sent in (
            # what the server found it to be, in its words
            (notes, "That file is not a picture this page can read (a PDF document: export its page as PNG): ", 1),
            (drawing, "That file is not a picture this page can read (an SVG drawing, not pixels: export it as ", 2),
            # refused before it is sent: over a phone's network it went up whole, only to get a 413 that spoke of
            # base64 in JSON
            (huge, "That image is too large (21.0 MB: the limit is 20 MB). Try a smaller one.", 2),
        ):
            driver.find_element(By.ID, "file").send_keys(str(file))
            assert wait_for_answer(driver)["error"].startswith(error)
            assert driver.execute_script("return window.posts") == sent
            time.sleep(0.3)  # the browser's own failure to show the file, should it come after the answer
            # The hint said "it was sent as it is, and the answer says what the server made of it" above an
            # error saying that there is no answer.
            assert hint.text.startswith("Draw one digit"), hint.text
            assert not driver.find_element(By.ID, "retry").is_displayed()  # the same file again gets the same
            driver.find_element(By.ID, "clear").click()

        # A file the server reads and this browser cannot show: the hint says so, and points at the answer.
        driver.find_element(By.ID, "file").send_keys(str(iphone_photo))
        assert wait_for_answer(driver)["error"] == ""
        WebDriverWait(driver, 10).until(lambda d: hint.text.startswith("This browser cannot show iphone.heic"))
        assert "the answer says what the server made of it" in hint.text


class Hanging(http.server.ThreadingHTTPServer):
    """Serves the page, and answers POST /predict as told by ``answers``, one per request: "hang" (no answer
    until the test ends) or a status with a JSON error, as the server's own time limit sends it. Keeps the
    bodies it got."""

    daemon_threads = True

    def __init__(self, answers: list[str | int]) -> None:
        super().__init__(("127.0.0.1", 0), HangingHandler)
        self.answers, self.bodies, self.done = list(answers), [], threading.Event()


class HangingHandler(http.server.BaseHTTPRequestHandler):
    server: Hanging

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/":
            self.reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")
        else:
            self.reply(404, b'{"error": "no such path"}', "application/json")

    def do_POST(self) -> None:
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        answer = self.server.answers.pop(0)
        if answer == "hang":
            self.server.done.wait(60)
        else:
            self.reply(answer, json.dumps({"error": "Request timed out"}).encode(), "application/json")


@contextmanager
def hanging_server(answers: list[str | int]) -> Iterator[Hanging]:
    served = Hanging(answers)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.done.set()
        served.shutdown()
        served.server_close()


def test_a_server_that_does_not_answer_times_out_and_the_drawing_can_be_sent_again(browser):
    with hanging_server(["hang", 504, "hang"]) as served, new_tab(browser) as driver:
        # ?timeout_ms: the page's wait for an answer (35 s, longer than the server's 30 s), shortened.
        driver.get(f"http://127.0.0.1:{served.server_address[1]}/?timeout_ms=1500")
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        shown = wait_for_answer(driver, timeout=15)  # "Reading…" forever without a time limit of its own
        assert shown["error"].startswith("No answer from the server after 2 s"), shown["error"]
        assert not state(driver)["busy"]
        retry = driver.find_element(By.ID, "retry")
        assert retry.is_displayed() and retry.text == "Try again"

        # Try again sends the same drawing; a 504 (the server's own time limit) says so, not "a problem reading".
        retry.click()
        WebDriverWait(driver, 10).until(lambda d: len(served.bodies) == 2)
        shown = wait_for_answer(driver, timeout=15)
        assert shown["error"].startswith("The server took too long"), shown["error"]
        assert served.bodies[1] == served.bodies[0] and served.bodies[0].startswith(b"\x89PNG")
        assert retry.is_displayed()

        # Drawing again takes the error and the button away.
        draw(driver, driver.find_element(By.ID, "pad"), [[(0.5, 0.5), (0.6, 0.6)]])
        assert state(driver)["error"] == "" and not retry.is_displayed()


GARMENTS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

VIEWS = """
    const card = document.getElementById("views-card");
    const shown = (e) => e.offsetParent !== null;
    return {
      text: card.innerText,
      headings: Array.from(card.querySelectorAll("h3")).filter(shown).map((e) => e.innerText),
      shown: Object.fromEntries(["cols", "reading", "row-detail", "reading-none", "preview"].map((id) =>
        [id, shown(document.getElementById(id))])),
      legend: shown(card.querySelector(".legend")),
      winner: Array.from(card.querySelectorAll(".winner")).filter((e) => !e.matches("#reading *"))
        .map((e) => e.innerText),
    };
"""


def views(driver) -> dict:
    """What the card "How the network read it" shows: its visible text, headings and parts."""
    return driver.execute_script(VIEWS)


@pytest.mark.slow
def test_the_columns_of_a_fashion_checkpoint_are_named_on_the_page_not_only_in_tooltips(
    browser, fashion_server, server
):
    with new_tab(browser, phone=True) as driver:
        driver.get(fashion_server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        # Each column's number beside its garment, in the page's text: the names were in title= alone, which a
        # phone never shows, so "0 1 ... 9" said nothing.
        for k, name in enumerate(GARMENTS):
            assert f"{k} {name}" in views(driver)["text"], (k, name)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["cells_per_row"] == 10
        page = state(driver)
        assert page["smallest_text"] >= 12 and page["scroll_width"] <= 390
        # The answer's name stands out in the key, as its column does in the view.
        answer = shown["big"].removesuffix("?")  # "Shirt?" when the tiny model is unsure
        assert views(driver)["winner"] == [f"{GARMENTS.index(answer)} {answer}"]
        driver.find_element(By.ID, "clear").click()
        assert views(driver)["winner"] == []

        # MNIST's columns are their names: no key, the page as it was.
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""
        seen = views(driver)
        assert "Columns" not in seen["text"] and "zero" not in seen["text"] and seen["winner"] == []
        assert driver.find_element(By.ID, "cols").text.split() == [str(k) for k in range(10)]


@pytest.fixture(scope="module")
def bidirectional_server(fake_data_dir, tmp_path_factory) -> Iterator[str]:
    """A server of a tiny bidirectional checkpoint: its answers have no per_row."""
    folder = tmp_path_factory.mktemp("bidirectional")
    run = fit_tiny_in(folder, fake_data_dir, "--model.hidden_size", "8", "--model.bidirectional", "true")
    with test_serve.serving(run / "checkpoints" / "last.ckpt", folder) as url:
        yield url


BOTH_WAYS = (
    "A bidirectional network reads the whole image in both directions before it answers, so it has no answer "
    "after each row."
)
INFO_FAILS = """
    const original = window.fetch;
    window.fetch = (url, options) => String(url) === "info" ? Promise.reject(new TypeError("Failed to fetch"))
                                                            : original(url, options);
"""


@pytest.mark.slow
def test_a_bidirectional_network_shows_what_it_saw_and_says_why_it_has_no_answer_after_each_row(
    browser, bidirectional_server
):
    status, body = test_serve.get(bidirectional_server + "/info")
    assert status == 200 and json.loads(body)["model"]["bidirectional"] is True

    def per_row_view_gone(driver) -> None:
        seen = views(driver)
        assert seen["headings"] == ["What it saw"] and seen["shown"]["preview"]
        assert seen["shown"]["reading-none"] and " ".join(seen["text"].split()).count(BOTH_WAYS) == 1
        assert not any(seen["shown"][part] for part in ("cols", "reading", "row-detail")) and not seen["legend"]
        for gone in ("Its answer after each row", "Tap or click a row", "made up its mind", "blank so far",
                     "one column per class"):  # fmt: skip
            assert gone not in seen["text"], gone

    with new_tab(browser, phone=True) as driver:
        # Known from /info before any answer: no empty columns waiting for per-row answers that never come.
        driver.get(bidirectional_server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        per_row_view_gone(driver)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["rows"] == [] and shown["lit_pixels"] > 20
        assert "made up its mind" not in shown["summary"]
        per_row_view_gone(driver)
        assert driver.find_element(By.ID, "preview").size["height"] >= 140
        driver.find_element(By.ID, "clear").click()
        per_row_view_gone(driver)
        # Every width, the preview and the line alone: nothing wider than the screen, no text under 12 px.
        for mobile, width in ((True, 300), (True, 360), (True, 390), (True, 600), (False, 900), (False, 1280)):
            page = layout(driver, width, 800, mobile)
            assert page["scroll_width"] <= page["client_width"] and page["smallest_text"] >= 12, (width, mobile)

        # Without /info (it failed): an answer without per_row says as much.
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INFO_FAILS})
        driver.get(bidirectional_server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-info") == "failed"
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""
        per_row_view_gone(driver)


HOLD_BLOBS = """
    // The pad's pictures held until the test lets them go (window.release()): the callback of the pause's
    // toBlob then comes after what the test does in between, as headless Chromium, which holds it until the
    // next input event, let it come after a click on Clear.
    window.blobs = 0;
    const waiting = [];
    window.release = () => waiting.splice(0).forEach((go) => go());
    const toBlob = HTMLCanvasElement.prototype.toBlob;
    HTMLCanvasElement.prototype.toBlob = function (callback, ...rest) {
      window.blobs++;
      const released = new Promise((resolve) => waiting.push(resolve));
      toBlob.call(this, (blob) => released.then(() => callback(blob)), ...rest);
    };
"""


@pytest.mark.slow
def test_a_drawing_cleared_or_replaced_while_its_picture_is_made_is_not_sent(browser, server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    three = tmp_path / "three.png"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(three)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        count_requests(driver)
        driver.execute_script(HOLD_BLOBS)
        pad = driver.find_element(By.ID, "pad")

        def picture_being_made(count: int) -> None:
            """Wait until the pause has asked for the pad's picture ``count`` times."""
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.blobs") == count)

        def let_it_come() -> None:
            """The held pictures handed to the page, after an input event (headless Chromium's own hold), and
            time for an answer to a request they made."""
            driver.execute_script("window.release()")
            ActionChains(driver).move_to_element(driver.find_element(By.ID, "title")).perform()
            time.sleep(0.5)  # a request is counted as it is made

        # Clear while the picture is made: nothing sent, nothing shown. A 2's answer came ("The answer is 2,
        # 99.8% sure") beside an empty pad.
        draw(driver, pad, DIGITS["7"], step=30)
        picture_being_made(1)
        driver.find_element(By.ID, "clear").click()
        let_it_come()
        page = state(driver)
        assert driver.execute_script("return window.posts") == 0
        assert page["big"] == "?" and page["ready"] is None and page["pad_lit"] == 0 and not page["busy"]
        assert page["summary"].startswith("Draw or upload a digit")

        # A file chosen then: the file's answer stays, the drawing is not sent after it.
        draw(driver, pad, DIGITS["7"], step=30)
        picture_being_made(2)
        driver.find_element(By.ID, "file").send_keys(str(three))
        assert wait_for_answer(driver)["error"] == ""
        let_it_come()
        assert driver.execute_script("return window.posts") == 1
        assert not state(driver)["busy"]

        # A new stroke then: one request, for the drawing with it, when it pauses again.
        driver.find_element(By.ID, "clear").click()
        draw(driver, pad, DIGITS["4"][:1])
        picture_being_made(3)
        draw(driver, pad, DIGITS["4"][1:])
        let_it_come()
        assert driver.execute_script("return window.posts") == 1  # the file's; the first stroke alone not sent
        picture_being_made(4)
        let_it_come()
        assert driver.execute_script("return window.posts") == 2
        assert wait_for_answer(driver)["error"] == ""


@pytest.mark.slow
def test_only_the_primary_button_draws(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.mouse_button import MouseButton

    with new_tab(browser) as driver:
        driver.get(server + "/")
        count_requests(driver)
        pad = driver.find_element(By.ID, "pad")
        # A right click (to save the picture) drew a dot, sent it and showed "0, 64.2% sure"; a middle button's
        # drag drew a line.
        for button in (MouseButton.RIGHT, MouseButton.MIDDLE):
            actions = ActionBuilder(driver)
            actions.pointer_action.move_to(pad).pointer_down(button).move_by(30, 30).pointer_up(button)
            actions.perform()
        time.sleep(1.2)  # longer than the pause after which a stroke's end sends the drawing
        assert state(driver)["pad_lit"] == 0 and driver.execute_script("return window.posts") == 0
        assert state(driver)["big"] == "?"
        # The primary button (a pen's tip and a finger are button 0 too) still draws.
        ActionChains(driver).move_to_element(pad).click().perform()
        assert state(driver)["pad_lit"] > 100


def fake_info(**model) -> str:
    """A script for every page load: /info's model answered with ``model``'s settings in place of the server's."""
    return f"""{{
        const original = window.fetch;
        window.fetch = (url, options) => String(url) !== "info" ? original(url, options)
          : original(url, options).then((r) => r.json()).then((info) => new Response(
              JSON.stringify({{...info, model: {{...info.model, ...{json.dumps(model)}}}}}),
              {{headers: {{"Content-Type": "application/json"}}}}));
    }}"""


SHUFFLED = (
    "This network reads the pixels in a shuffled order, not row by row, so its answer after each row of the image "
    "is not defined."
)


@pytest.mark.slow
def test_a_permuted_network_shows_what_it_saw_and_says_why_it_has_no_answer_after_each_row(browser, server):
    # The server's answers (a row model's, 28 per_row) as a permuted model's look: per_row there is the answer
    # after each 28th step, of pixels from all over the image. The page showed them as "Its answer after each
    # row", hatched rows as unread and said "It made up its mind after row 11 of 28".
    with new_tab(browser, phone=True) as driver:
        permuted = {"source": fake_info(sequence="permuted")}
        script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", permuted)["identifier"]
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))

        def per_row_view_gone() -> None:
            seen = views(driver)
            assert seen["headings"] == ["What it saw"] and seen["shown"]["preview"]
            assert seen["shown"]["reading-none"] and " ".join(seen["text"].split()).count(SHUFFLED) == 1
            assert not any(seen["shown"][part] for part in ("cols", "reading", "row-detail")) and not seen["legend"]
            for gone in ("Its answer after each row", "Tap or click a row", "made up its mind", "blank so far"):
                assert gone not in seen["text"], gone

        per_row_view_gone()
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["rows"] == [] and shown["lit_pixels"] > 20
        assert shown["summary"].startswith(("The answer is ", "Not sure: ")) and "row" not in shown["summary"]
        per_row_view_gone()
        driver.find_element(By.ID, "preview").click()  # a row picked on the preview has nothing to say
        assert driver.execute_script("return document.getElementById('row-detail').offsetParent") is None
        assert driver.find_element(By.ID, "preview").size["height"] >= 140
        for mobile, width in ((True, 300), (False, 1280)):
            page = layout(driver, width, 800, mobile)
            assert page["scroll_width"] <= page["client_width"] and page["smallest_text"] >= 12, (width, mobile)

        # Pixel by pixel in row order: the step that ends each row is the answer after that row, shown.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})  # fmt: skip
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": fake_info(sequence="pixels")})
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        # "It made up its mind after row N" (sure) or "Its first guess stayed the same after row N" (not sure)
        assert shown["rows"] == [str(r) for r in range(1, 29)] and re.search(r"after row \d+ of 28\.", shown["summary"])
        assert not views(driver)["shown"]["reading-none"]


@pytest.mark.slow
def test_the_rows_above_a_garment_are_not_said_to_have_no_ink(browser, fashion_server):
    # "no ink yet" over the rows above a garment: the page's words fit any picture.
    with new_tab(browser) as driver:
        driver.get(fashion_server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        # Wide and low, as a bag or a belt: fitted by its width, with blank rows above it.
        draw(driver, driver.find_element(By.ID, "pad"), [[(0.15, 0.4), (0.85, 0.4), (0.85, 0.6), (0.15, 0.6)]])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["unread"][:2] == [1, 2]
        driver.find_element(By.CSS_SELECTOR, '#reading .row[data-row="1"]').click()
        card = driver.execute_script("return document.getElementById('views-card').textContent")
        text = " ".join(card.split())
        assert re.search(r"\bink\b", text) is None, text
        assert "blank so far" in text and "Row 1: nothing read yet" in text


def test_a_tap_is_not_sent_as_a_digit_and_the_page_says_so(browser, server):
    """A tap drew a dot, which the server read as "0, 81% sure" (a phone's tap, a click to focus the pad): a
    drawing under two pen widths across is not sent; the drawing that follows it is."""
    from selenium.webdriver.common.action_chains import ActionChains

    with new_tab(browser) as driver:
        driver.get(server + "/")
        count_requests(driver)
        pad = driver.find_element(By.ID, "pad")
        ActionChains(driver).move_to_element(pad).click().perform()
        time.sleep(1.2)  # longer than the pause after which a stroke's end sends the drawing
        assert state(driver)["pad_lit"] > 100 and driver.execute_script("return window.posts") == 0
        summary = driver.find_element(By.ID, "summary").text
        assert summary == "A dot is not a digit: draw the whole digit, large and centred."
        assert state(driver)["big"] == "?"
        draw(driver, pad, DIGITS["4"])  # the dot and a 4 over it: large enough, sent
        assert wait_for_answer(driver)["error"] == "" and driver.execute_script("return window.posts") == 1


INK_ACROSS = """
    // The width of the ink across the pad's row at arguments[0] (a fraction of its height), in canvas pixels.
    const pad = document.getElementById("pad"), y = Math.round(arguments[0] * pad.height);
    const data = pad.getContext("2d").getImageData(0, y, pad.width, 1).data;
    let n = 0; for (let i = 0; i < data.length; i += 4) n += data[i] > 128; return n;
"""


@pytest.mark.slow
def test_a_small_drawing_is_drawn_with_a_pen_as_fine_for_its_size_as_a_large_ones(browser, server):
    """A pen 25 pixels wide on a drawing 63 pixels tall made strokes the server read as a blob: mostly "8", 98%
    sure (3 of 10 digits right: docs/serve.md). A drawing under three pen widths across is drawn
    again with a pen a third as wide as it is across, and sent so; a large one keeps the pen."""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        count_requests(driver)
        pad = driver.find_element(By.ID, "pad")
        pen = driver.execute_script("return penWidth()")  # 320 / 13 pixels, a mouse's
        one = [[(0.5, 0.40), (0.5, 0.55)]]  # a 1 drawn 48 pixels tall: two pen widths, under three
        draw(driver, pad, one)
        assert driver.execute_script(INK_ACROSS, 0.47) <= 0.15 * 320 / 3 + 2  # was the pen's 25 pixels
        assert wait_for_answer(driver)["error"] == "" and driver.execute_script("return window.posts") == 1
        # A second stroke that makes the drawing large: the first is drawn again with the whole pen.
        draw(driver, pad, [[(0.1, 0.2), (0.9, 0.2)]])
        assert abs(driver.execute_script(INK_ACROSS, 0.47) - pen) <= 2
        driver.find_element(By.ID, "clear").click()
        # A 1 as tall as the pad's hint asks: the pen as it was, on the pad and in what is sent.
        draw(driver, pad, [[(0.5, 0.15), (0.5, 0.85)]])
        assert abs(driver.execute_script(INK_ACROSS, 0.47) - pen) <= 2
        assert wait_for_answer(driver)["error"] == ""


LIVE = """
    // Every change of a live region's text from now on (a screen reader says them): [id, text].
    window.said = [];
    document.querySelectorAll("[aria-live], [role=alert], [role=status]").forEach((region) =>
      new MutationObserver(() => window.said.push([region.id, region.textContent]))
        .observe(region, { childList: true, subtree: true, characterData: true }));
"""


@pytest.mark.slow
def test_the_rows_are_reached_and_read_by_keyboard_and_each_answer_is_said_once(browser, server):
    """The rows had no tab stop nor key handler ("Tap or click a row"), and no names; three live regions changed
    at once per answer (the summary, the row detail, the rows' answers as a list of 28)."""
    from selenium.webdriver.common.action_chains import ActionChains

    def press(key: str, shift: bool = False) -> dict:
        actions = ActionChains(driver)
        (actions.key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT) if shift else actions.send_keys(key)).perform()
        return driver.execute_script(
            "const e = document.activeElement; return {row: e.dataset.row || null, id: e.id, "
            "detail: document.getElementById('row-detail').textContent};"
        )

    with new_tab(browser) as driver:
        driver.get(server + "/")
        driver.execute_script(LIVE)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        time.sleep(0.3)
        said = [(region, text) for region, text in driver.execute_script("return window.said") if text.strip()]
        assert said[-1:] == [("announce", shown["summary"])], said  # the answer, said once
        assert {region for region, _ in said} <= {"status", "announce"}, said  # and "Reading…" before it

        # Each row named by its answer, as a screen reader reads the list.
        nodes = driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        names = [n["name"]["value"] for n in nodes if n.get("role", {}).get("value") == "option"]
        assert len(names) == 28 and all(re.fullmatch(r"(After row \d+: \d, [<>\d.]+%|Row \d+: blank so far)", name)
                                        for name in names), names  # fmt: skip
        answer = shown["big"].removesuffix("?")  # "2?" when the tiny model is unsure
        assert names[27] == f"After row 28: {answer}, " + driver.find_element(By.CSS_SELECTOR, ".pct").text

        # One tab stop, on the row where it made up its mind; the arrows move from there; Tab leaves the list.
        assert "Tab to the rows and use the arrow keys" in driver.find_element(By.ID, "row-detail").text
        decided = int(shown["summary"].split("after row ")[1].split()[0])
        driver.execute_script("document.getElementById('file').focus()")
        here = press(Keys.TAB)
        assert here["row"] == str(decided) and here["detail"].startswith(f"After row {decided}: "), here
        here = press(Keys.ARROW_DOWN)
        assert here["row"] == str(decided + 1) and here["detail"].startswith(f"After row {decided + 1}: ")
        assert press(Keys.HOME)["row"] == "1" and press(Keys.END)["row"] == "28"
        assert press(Keys.ARROW_DOWN)["row"] == "28" and press(Keys.PAGE_UP)["row"] == "21"
        assert driver.execute_script("return window.scrollY") == 0  # the keys moved the rows, not the page
        selected = driver.find_elements(By.CSS_SELECTOR, '#reading [aria-selected="true"]')
        assert [row.get_attribute("data-row") for row in selected] == ["21"]
        assert press(Keys.TAB)["row"] is None  # out of the list at once, not through its 28 rows
        assert press(Keys.TAB, shift=True)["row"] == "21"  # back to the row picked last


HOLD_ANSWERS = """
    // The server's answers held until the test lets them go (window.answer()); what the page showed and said
    // at each answer, in window.seen; window.answered: how many answers the page has taken in (its code after
    // `await response.json()` has run), shown or not.
    window.posts = 0;
    window.seen = [];
    window.answered = 0;
    const held = [];
    window.held = () => held.length;
    window.answer = () => held.splice(0).forEach((go) => go());
    const original = window.fetch;
    window.fetch = (url, options) => {
      if (!options || options.method !== "POST") return original(url, options);
      window.posts++;
      return original(url, options).then((response) => new Promise((go) => held.push(() => {
        const json = response.json.bind(response);
        response.json = () => json().finally(() => setTimeout(() => { window.answered++; }));
        go(response);
      })));
    };
    const $ = (id) => document.getElementById(id);
    new MutationObserver(() => window.seen.push({ interim: $("answer-card").classList.contains("interim"),
                                                  status: $("status").textContent, said: $("announce").textContent }))
      .observe($("summary"), { childList: true, characterData: true, subtree: true });
"""


@pytest.mark.slow
def test_an_answer_to_the_drawing_before_the_last_stroke_is_marked_and_not_said(browser, server):
    """The answer to a 4's first stroke, coming after the second stroke was lifted but before the pause sent the
    whole 4 (0.7 s), was shown as the current answer and read out."""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        # /info's answer sets the summary's words too: come first.
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        driver.execute_script(HOLD_ANSWERS)
        pad = driver.find_element(By.ID, "pad")
        draw(driver, pad, DIGITS["4"][:1])
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
        draw(driver, pad, DIGITS["4"][1:])
        driver.execute_script("window.answer()")  # the first stroke's answer, within the pause after the second
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.seen.length") == 2)
        assert driver.execute_script("return window.posts") == 1  # still in the pause
        seen = driver.execute_script("return window.seen")
        assert seen[0] == {"interim": False, "status": "Reading\u2026", "said": ""}  # "Reading your drawing…"
        assert seen[1] == {"interim": True, "status": "still drawing?", "said": ""}

        # The whole 4's answer: current, and said.
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
        driver.execute_script("window.answer()")
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.seen.length") == 3)
        assert driver.execute_script("return window.posts") == 2
        summary = driver.find_element(By.ID, "summary").text
        assert driver.execute_script("return window.seen")[2] == {"interim": False, "status": "", "said": summary}


@pytest.mark.slow
def test_while_the_answer_is_on_its_way_the_sentence_under_it_says_what_is_read_and_nothing_more_is_said(
    browser, server, tmp_path
):
    """While a drawing's answer was on its way the card said "Reading…" and the sentence under it "Draw or upload a
    digit to see the answer.", as if nothing had been drawn; so too of an upload. The sentence says what is read,
    and is no live region: a screen reader hears "Reading…" (#status) and then the answer, once."""
    three = tmp_path / "three.png"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(three)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        driver.execute_script(HOLD_ANSWERS + LIVE)
        shows = "return [document.getElementById('status').textContent, document.getElementById('summary').textContent]"
        for send, reading in (
            (lambda: draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"]), "Reading your drawing\u2026"),
            (lambda: driver.find_element(By.ID, "file").send_keys(str(three)), "Reading three.png\u2026"),
        ):
            driver.find_element(By.ID, "clear").click()
            driver.execute_script("window.said = []")
            send()
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
            assert driver.execute_script(shows) == ["Reading\u2026", reading]
            driver.execute_script("window.answer()")
            shown = wait_for_answer(driver)
            assert shown["error"] == "" and driver.execute_script(shows)[0] == ""
            said = [(region, text) for region, text in driver.execute_script("return window.said") if text.strip()]
            assert said == [("status", "Reading\u2026"), ("announce", shown["summary"])], said
        driver.find_element(By.ID, "clear").click()
        assert driver.execute_script(shows) == ["", "Draw or upload a digit to see the answer."]


FADED = """
    // The opacity of each part of the answer card and of "How the network read it" that shows an answer.
    const opacity = (selector) => Number(getComputedStyle(document.querySelector(selector)).opacity);
    return Object.fromEntries(["#answer-card .answer", "#summary", "#several", "#views-card .views", "#key",
                               "#views-card .row-line", "#status"].map((selector) => [selector, opacity(selector)]));
"""


@pytest.mark.slow
def test_while_a_drawing_is_read_again_all_of_the_answer_before_is_faded_alike(browser, fashion_server):
    """While a drawing's new answer was on its way (and while the answer shown was of the drawing before the last
    stroke), the answer and its note were faded, but the sentence under them and "How the network read it" stayed at
    full strength: the old answer's sentence read as the news. All of it is faded alike now, and back once the new
    answer is in; a card with no answer yet keeps its "Reading your drawing…" at full strength."""
    faded = {"#answer-card .answer": 0.45, "#summary": 0.45, "#several": 0.45, "#views-card .views": 0.45,
             "#key": 0.45, "#views-card .row-line": 0.45, "#status": 1}  # fmt: skip
    whole = dict.fromkeys(faded, 1)
    with new_tab(browser) as driver:
        driver.get(fashion_server + "/")  # a garment's: the columns' key shows
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        driver.execute_script(HOLD_ANSWERS)
        pad = driver.find_element(By.ID, "pad")
        draw(driver, pad, DIGITS["4"][:1])
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
        assert driver.execute_script("return document.getElementById('summary').textContent") == (
            "Reading your drawing\u2026"
        )
        assert driver.execute_script(FADED)["#summary"] == 1  # no answer before it: the sentence is the news
        driver.execute_script("window.answer()")
        assert wait_for_answer(driver)["error"] == ""
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(FADED) == whole)

        # The next stroke: the answer shown is of the drawing before it ("still drawing?"), then it is read again.
        ActionChains(driver, duration=10).move_to_element_with_offset(pad, 10, -40).click_and_hold().perform()
        assert state(driver)["interim"]
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(FADED) == faded)
        ActionChains(driver, duration=10).move_to_element_with_offset(pad, 10, 60).release().perform()
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
        assert state(driver)["busy"]
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(FADED) == faded)
        driver.execute_script("window.answer()")
        WebDriverWait(driver, 10).until(lambda d: not state(d)["busy"] and d.execute_script(FADED) == whole)


HOLD_INFO = """{
    // /info's answer held until the test lets it go (window.releaseInfo(model)), its model's settings then
    // replaced by those given.
    const original = window.fetch;
    let release;
    const gate = new Promise((go) => { release = go; });
    window.releaseInfo = (model) => release(model);
    window.fetch = (url, options) => String(url) !== "info" ? original(url, options)
      : original(url, options).then((r) => r.json()).then((info) => gate.then((model) => new Response(
          JSON.stringify({...info, model: {...info.model, ...model}}),
          {headers: {"Content-Type": "application/json"}})));
}"""


@pytest.mark.slow
def test_an_answer_that_came_before_info_is_shown_again_in_infos_terms(browser, server, tmp_path):
    """/info (the class names, the data set, whether the network reads rows) answered after the first drawing's
    answer, as a busy server may: a garment's answer stayed "7" among digits' names, a permuted network's said "It
    made up its mind after row 17 of 28" under the line saying it has no rows, and an uploaded file's note on the pad
    ("This browser cannot show ...") was replaced by the drawing hint."""
    garments = dict(class_names=GARMENTS, dataset="fashion_mnist", sequence="permuted")
    with new_tab(browser) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_INFO})
        driver.get(server + "/")
        driver.execute_script(LIVE)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and driver.find_element(By.TAG_NAME, "body").get_attribute("data-info") is None
        digit = shown["big"].removesuffix("?")
        assert digit in "0123456789" and "after row" in shown["summary"]
        driver.execute_script("window.releaseInfo(arguments[0])", garments)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        now = state(driver)
        assert now["big"].removesuffix("?") == GARMENTS[int(digit)], now["big"]
        assert GARMENTS[int(digit)] in now["summary"] and "after row" not in now["summary"], now["summary"]
        assert now["rows"] == 0 and views(driver)["shown"]["reading-none"]
        assert not driver.find_element(By.ID, "marker-left").is_displayed()  # the row it "made up its mind" after
        said = [text for region, text in driver.execute_script("return window.said") if region == "announce" and text]
        assert said[-1].startswith(now["summary"]), said  # said again, in the garments' names

    # The other order: /info while the first drawing is read, then its answer, in /info's terms.
    with new_tab(browser) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_INFO})
        driver.get(server + "/")
        driver.execute_script(HOLD_ANSWERS)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
        driver.execute_script("window.releaseInfo(arguments[0])", garments)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        now = state(driver)
        assert now["busy"] and now["summary"] == "Reading your drawing\u2026" and now["big"] == "?", now
        assert now["title"] == "Draw or upload a garment"
        driver.execute_script("window.answer()")
        shown = wait_for_answer(driver)
        assert shown["big"].removesuffix("?") in GARMENTS and "after row" not in shown["summary"], shown
        assert not state(driver)["busy"] and views(driver)["shown"]["reading-none"]

    tiff = tmp_path / "scan.tiff"  # a picture Chromium cannot show: the pad says so
    render_digit(3, canvas=(200, 200), size=160).save(tiff)
    with new_tab(browser) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_INFO})
        driver.get(server + "/")
        driver.find_element(By.ID, "file").send_keys(str(tiff))
        assert wait_for_answer(driver)["error"] == ""
        hint = driver.find_element(By.ID, "hint")
        WebDriverWait(driver, 10).until(lambda d: hint.text.startswith("This browser cannot show scan.tiff"))
        driver.execute_script("window.releaseInfo(arguments[0])", {"dataset": "mnist"})
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        assert hint.text.startswith("This browser cannot show scan.tiff"), hint.text
        assert driver.find_element(By.ID, "title").text == "Draw or upload a digit"


RAMP = """
    // The ramp's colours for these probabilities, given to the last row's first cells (a tiny checkpoint's
    // answers are near 10% everywhere, and the auto dark mode inverted the lightest cells, those under 20%),
    // and where those cells are: [x, y, "rgb(...)"].
    const cells = document.querySelectorAll('#reading .row[data-row="28"] .cell');
    return arguments[0].map((p, k) => { cells[k].style.background = colour(p);
      const box = cells[k].getBoundingClientRect();
      return [box.left + box.width / 2, box.top + box.height / 2, cells[k].style.background]; });
"""


@pytest.mark.slow
def test_chromes_auto_dark_mode_leaves_the_colours_of_the_reading_view_as_they_are(server):
    """Chrome's "darken websites" (Android, in Chrome's dark theme) inverted the reading view's light cells, so
    that the least probable classes were darker than the likely ones: darker = more probable was no longer
    true. (With the flag alone and a light theme, as on a desktop, headless Chromium 156 darkens even a page
    that says it is light only.)"""
    import io

    from PIL import Image

    with chromium(force_dark=True) as driver:
        driver.get(server + "/")
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["4"])
        assert wait_for_answer(driver)["error"] == ""
        cells = driver.execute_script(RAMP, [0, 0.01, 0.1, 0.3, 0.6, 1])
        screen = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        given = [tuple(int(v) for v in re.findall(r"\d+", colour)) for _, _, colour in cells]
        shown = [screen.getpixel((int(x), int(y))) for x, y, _ in cells]
        pairs = zip(given, shown, strict=True)
        off = [(g, s) for g, s in pairs if max(abs(u - v) for u, v in zip(g, s, strict=True)) > 8]
        assert off == [], off  # each cell as the page coloured it
        lightness = [sum(rgb) for rgb in shown]
        assert lightness == sorted(lightness, reverse=True)  # darker = more probable
        assert screen.getpixel((3, 3)) == (0xF4, 0xF5, 0xF9)  # the page's own background


BLANK_ROWS = """
    // The answer on screen again, its prepared image moved down so that its first ink is in row arguments[0] + 1.
    const answer = JSON.parse(JSON.stringify(shown)), shift = arguments[0] - firstInkRow(answer.prepared);
    answer.prepared = answer.prepared.map((_, r) => r - shift < 0 || r - shift > 27 ? Array(28).fill(0)
                                                                                    : answer.prepared[r - shift]);
    show(answer);
    const label = document.querySelector("#unread-label"), words = label.querySelector("span");
    const box = (e) => e.getBoundingClientRect().toJSON();
    return { label: box(label), words: words.offsetParent ? box(words) : null,
             lines: Array.from(document.querySelectorAll("#reading .row.unread .winner"),
                               (cell) => getComputedStyle(cell).boxShadow).filter((s) => s !== "none").length };
"""
EMPTY_PREVIEW = """
    const preview = document.getElementById("preview"), note = document.querySelector(".preview-empty");
    return { background: getComputedStyle(preview).backgroundColor, note: note.offsetParent ? note.innerText : null };
"""


@pytest.mark.slow
def test_the_preview_before_an_answer_and_the_blank_rows_read_as_empty(browser, server):
    """On a 360x640 phone the empty preview was a black square as large as the pad just above it (a second pad?);
    the answer's column outline crossed the words "blank so far", and over two blank rows of a phone (14 px)
    the words were squeezed against the column numbers."""
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        layout(driver, 360, 640)
        assert driver.execute_script(EMPTY_PREVIEW) == {"background": "rgb(238, 240, 245)", "note": "Nothing read yet"}
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""
        assert driver.execute_script(EMPTY_PREVIEW) == {"background": "rgb(0, 0, 0)", "note": None}
        # A touch screen alone has no Tab nor arrow keys: the hint names only what a phone has.
        assert driver.find_element(By.ID, "row-detail").text == "Tap a row to see its answer."

        for width, height, blank, words_shown in ((360, 640, 2, False), (360, 640, 3, True), (1280, 800, 2, True)):
            layout(driver, width, height, mobile=width < 400)
            seen = driver.execute_script(BLANK_ROWS, blank)
            assert seen["lines"] == 0, (width, blank)  # the outline starts at the first row read
            assert (seen["words"] is not None) == words_shown, (width, blank, seen)
            if words_shown:  # within the blank rows, not over the numbers above them nor the rows below
                words, label = seen["words"], seen["label"]
                assert label["top"] - 0.5 <= words["top"] and words["bottom"] <= label["bottom"] + 0.5, seen
        driver.find_element(By.ID, "clear").click()
        assert driver.execute_script(EMPTY_PREVIEW)["note"] == "Nothing read yet"


def test_the_pages_words_before_info_and_without_javascript_fit_any_checkpoint(browser, fashion_server):
    """Before /info named the data set, and in <noscript>, the page said "digit" (a Fashion-MNIST checkpoint
    serves garments) and showed curl with localhost:8000 (serve's port is --port)."""
    page = test_serve.get(fashion_server + "/")[1].decode()
    static = re.sub(r"<script>.*?</script>|<style>.*?</style>|<!--.*?-->", "", page, flags=re.S)
    assert re.search(r"\bdigits?\b", static, flags=re.I) is None and "8000" not in static
    assert "Draw or upload an image" in static and "curl --data-binary @picture.png ADDRESS/predict" in static

    # With JavaScript, /info not answered yet (here: never): the same words, not "digit" from the script.
    with new_tab(browser) as driver:
        never = "window.fetch = ((f) => (u, o) => String(u) === 'info' ? new Promise(() => {}) : f(u, o))(fetch);"
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": never})
        driver.get(fashion_server + "/")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert driver.title == "mnist_rnn: draw or upload an image" and "digit" not in text.lower(), text
        assert "Draw large and centred. The answer comes when you pause." in text


SHOW = """
    const [top, rest, small, rowByRow, several] = arguments;
    const probabilities = Array.from({ length: 10 }, (_, k) => (k === 2 ? top : k === 4 ? rest : (1 - top - rest) / 8));
    const prepared = Array.from({ length: 28 }, () => Array(28).fill(0));
    // rowByRow: the answer after each row too, 2 from the first row on
    const per_row = rowByRow ? Array.from({ length: 28 }, () => probabilities) : undefined;
    show({ class: 2, probabilities, prepared, several: Boolean(several), small: Boolean(small), per_row });
    const big = document.getElementById("big");
    return { big: big.textContent, unsure: big.classList.contains("unsure"), colour: getComputedStyle(big).color,
             summary: document.getElementById("summary").textContent };
"""


def test_an_unsure_answer_does_not_look_like_a_sure_one(browser, server):
    """A scribble's answer at 55% was shown as a sure one's, in the same big indigo glyph: only the bars told."""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        sure = driver.execute_script(SHOW, 0.97, 0.02)
        assert sure["big"] == "2" and not sure["unsure"]
        assert sure["summary"].startswith("The answer is 2, 97.0% sure; then 4 2.0%")
        unsure = driver.execute_script(SHOW, 0.547, 0.429)
        assert unsure["big"] == "2?" and unsure["unsure"] and unsure["colour"] != sure["colour"]
        assert unsure["summary"].startswith("Not sure: perhaps 2 (54.7%), perhaps 4 (42.9%).")
        assert driver.find_element(By.ID, "announce").text.startswith("Not sure: perhaps 2")  # said, too
        # Not sure, yet "It made up its mind after row 1" (h101, a garment): the row said without a contradiction.
        unsure = driver.execute_script(SHOW, 0.547, 0.429, False, True)
        assert unsure["summary"].endswith("perhaps 4 (42.9%). Its first guess stayed the same after row 1 of 28.")
        sure = driver.execute_script(SHOW, 0.97, 0.02, False, True)
        assert sure["summary"].endswith("It made up its mind after row 1 of 28.")
        # A tiny digit's 97% is not a sure answer: the network is wrong on those more often than it says.
        tiny = driver.execute_script(SHOW, 0.97, 0.02, True)
        assert tiny["big"] == "2?" and tiny["unsure"] and tiny["summary"].startswith("Not sure: perhaps 2 (97.0%)")
        driver.find_element(By.ID, "clear").click()
        cleared = driver.execute_script("return document.getElementById('big').className")
        assert "unsure" not in cleared and "empty" in cleared


def test_the_answer_to_a_picture_of_several_digits_is_not_shown_as_a_sure_answer_about_the_whole(
    browser, server, tmp_path
):
    """Two digits side by side read "7" in big indigo and "The answer is 7, 99.6% sure" beside the note that
    there were more: a sure answer about the picture at a glance, where the probability is of the one read."""
    two_digits = tmp_path / "thirty-eight.png"
    render_digit(38, canvas=(220, 120), size=90, at=(20, 10), ink=0, paper=255).save(two_digits)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        shown = driver.execute_script(SHOW, 0.97, 0.02, False, True, True)
        assert shown["big"] == "2?" and shown["unsure"]
        # The percentage is said to be about the one read, and of it the row where its answer settled.
        assert shown["summary"] == (
            "The digit under \u201cWhat it saw\u201d is 2, 97.0% sure; then 4 2.0%, 0 0.1%. "
            "It made up its mind after row 1 of 28."
        )
        unsure = driver.execute_script(SHOW, 0.547, 0.429, False, False, True)
        assert (
            unsure["summary"]
            == "Not sure of the digit under \u201cWhat it saw\u201d: perhaps 2 (54.7%), perhaps 4 (42.9%)."
        )
        note = driver.find_element(By.ID, "several").text
        assert (
            note
            == "That looks like more than one digit: only one of them was read. Draw or upload one digit at a time."
        )
        assert driver.find_element(By.ID, "announce").text == f"{unsure['summary']} {note}"  # said, the note too

        # The same from the server's answer to an upload of two digits.
        driver.find_element(By.ID, "file").send_keys(str(two_digits))
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["big"].endswith("?")
        assert shown["summary"].startswith(
            ("The digit under \u201cWhat it saw\u201d is ", "Not sure of the digit under")
        )


def test_a_file_of_several_frames_says_that_only_the_first_was_read(browser, server, tmp_path):
    """serve read an animated GIF's first frame, and the page said nothing of the others."""
    gif = tmp_path / "drawn.gif"
    gif.write_bytes(test_serve.animation()[0])
    with new_tab(browser) as driver:
        driver.get(server + "/")
        driver.find_element(By.ID, "file").send_keys(str(gif))
        assert wait_for_answer(driver)["error"] == ""
        page = state(driver)
        assert page["several_shown"] and page["several"] == (
            "That file holds 3 frames or pages (an animation, a multi-page scan): only the first was read. "
            "Save the one you mean as a picture of its own."
        )
        driver.find_element(By.ID, "clear").click()
        assert state(driver)["several"] == ""


@pytest.mark.slow
def test_on_a_phone_the_buttons_fit_a_finger_and_an_error_shows_on_its_side_and_keys_keep_their_place(
    browser, server, tmp_path
):
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    box = "const r = document.getElementById(arguments[0]).getBoundingClientRect(); return [r.top, r.bottom, r.height];"
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        # 44 px, a finger's size (Apple's guideline, WCAG 2.5.5): they were 37 px upright, 33 px on its side.
        for width, height in (PHONE, (844, 390)):
            layout(driver, width, height)
            for control in ("clear", "upload-label"):
                assert driver.execute_script(box, control)[2] >= 44, (control, width, height)
        # On its side the draw card runs below the screen: the error of a refused file showed below it, unseen,
        # as if nothing had happened.
        driver.find_element(By.ID, "file").send_keys(str(notes))
        assert wait_for_answer(driver)["error"].startswith("That file is not a picture")
        top, bottom, _ = driver.execute_script(box, "problem")
        # The page scrolls by whole pixels: a fraction of one (of an error of some lines) may stay below.
        assert 0 <= top and bottom < 391, (top, bottom)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        clear = driver.find_element(By.ID, "clear")
        driver.execute_script("arguments[0].focus()", clear)
        clear.send_keys(Keys.ENTER)  # from the keyboard the focus went to the pad, which keys cannot draw on
        assert driver.switch_to.active_element.get_attribute("id") == "clear"


PAD_IMAGE = "return document.getElementById('pad').toDataURL()"


def touch_pad(driver):
    """touch(kind, (id, x, y), ...): touch points by id at fractions of the pad (touchStart and touchMove list those
    down, touchEnd those lifted); ``pen=True``: a stylus, (x, y) alone, with touchStart/touchMove/touchEnd."""
    pad = driver.execute_script("return document.getElementById('pad').getBoundingClientRect().toJSON()")
    at = lambda x, y: {"x": pad["left"] + x * pad["width"], "y": pad["top"] + y * pad["height"]}  # noqa: E731

    def touch(kind: str, *points, pen: bool = False) -> None:
        if pen:
            mouse = {"touchStart": "mousePressed", "touchMove": "mouseMoved", "touchEnd": "mouseReleased"}[kind]
            driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": mouse, **at(*points[0]), "button": "left",
                                   "buttons": 1, "clickCount": 1, "pointerType": "pen"})  # fmt: skip
        else:
            driver.execute_cdp_cmd(
                "Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"id": k, **at(x, y)} for k, x, y in points]}
            )

    return touch


@pytest.mark.slow
def test_two_fingers_down_together_cancel_the_stroke_and_leave_the_pad_as_it_was(browser, server):
    """A pinch on the pad drew a line with its first finger and sent it."""
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        count_requests(driver)
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and driver.execute_script("return window.posts") == 1
        drawn, touch = driver.execute_script(PAD_IMAGE), touch_pad(driver)
        # A pinch: both fingers land together (or the second 0.1 s later) and move apart.
        for second_after in (0, 0.1):
            touch("touchStart", (0, 0.45, 0.45))
            time.sleep(second_after)
            touch("touchStart", (0, 0.45, 0.45), (1, 0.55, 0.55))
            for k in range(1, 6):
                touch("touchMove", (0, 0.45 - 0.05 * k, 0.45 - 0.04 * k), (1, 0.55 + 0.05 * k, 0.55 + 0.04 * k))
            touch("touchEnd", (1, 0.8, 0.75))
            touch("touchEnd", (0, 0.2, 0.25))
            time.sleep(1.2)  # longer than the pause after which a stroke's end sends the drawing
            assert driver.execute_script("return window.posts") == 1, "the pinch was sent"
            assert driver.execute_script(PAD_IMAGE) == drawn, "the pinch left ink on the pad"
            assert not state(driver)["interim"] and state(driver)["big"] == shown["big"]
        # One finger draws again afterwards.
        touch("touchStart", (2, 0.8, 0.2))
        for y in (0.3, 0.4, 0.5, 0.6):
            touch("touchMove", (2, 0.8, y))
        touch("touchEnd", (2, 0.8, 0.6))
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.posts") == 2)
        assert min(driver.execute_script(PAD_PIXELS, [(0.8, 0.3), (0.8, 0.5)])) > 128


@pytest.mark.slow
def test_a_thumb_resting_on_the_pad_before_the_finger_draws_is_not_the_pen(browser, server):
    """A thumb on the pad's edge, down first, became the pen: its dot was drawn and the finger drew nothing."""
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        count_requests(driver)
        touch, thumb = touch_pad(driver), (1, 0.95, 0.9)
        touch("touchStart", thumb)
        time.sleep(0.5)
        touch("touchStart", thumb, (2, 0.3, 0.2))
        for y in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            touch("touchMove", thumb, (2, 0.3, y))
        touch("touchEnd", (2, 0.3, 0.8))
        assert wait_for_answer(driver)["error"] == "" and driver.execute_script("return window.posts") == 1
        lit = driver.execute_script(PAD_PIXELS, [(0.3, y) for y in (0.2, 0.5, 0.8)] + [(0.95, 0.9), (0.6, 0.6)])
        assert min(lit[:3]) > 128 and max(lit[3:]) == 0, lit  # the finger's line; nothing at the thumb
        touch("touchEnd", thumb)
        # A palm down first, then a stylus: the stylus draws.
        palm = (3, 0.1, 0.95)
        touch("touchStart", palm)
        time.sleep(0.5)
        touch("touchStart", (0.7, 0.2), pen=True)
        for y in (0.3, 0.4, 0.5, 0.6):
            touch("touchMove", (0.7, y), pen=True)
        touch("touchEnd", (0.7, 0.6), pen=True)
        touch("touchEnd", palm)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.posts") == 2)
        lit = driver.execute_script(PAD_PIXELS, [(0.7, 0.3), (0.7, 0.5), (0.1, 0.95)])
        assert min(lit[:2]) > 128 and lit[2] == 0, lit


@pytest.mark.slow
def test_the_focused_pad_keeps_space_and_the_arrows_and_lets_other_keys_through(browser, server):
    """Space and the arrow keys on the focused pad scrolled the page (and the pad from under the pen)."""
    from selenium.webdriver.common.action_chains import ActionChains

    with new_tab(browser, height=500) as driver:
        driver.get(server + "/")
        pad = driver.find_element(By.ID, "pad")
        for key in (Keys.SPACE, Keys.ARROW_DOWN, Keys.ARROW_RIGHT):
            driver.execute_script("arguments[0].focus()", pad)
            ActionChains(driver).send_keys(key).perform()
            time.sleep(0.3)
            assert driver.execute_script("return window.scrollY") == 0, repr(key)
        ActionChains(driver).send_keys(Keys.TAB).perform()  # Tab moves on
        assert driver.switch_to.active_element.get_attribute("id") == "clear"
        driver.execute_script("arguments[0].focus()", pad)
        ActionChains(driver).send_keys(Keys.PAGE_DOWN).perform()  # a key the pad does not use scrolls the page
        WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.scrollY") > 0)


@pytest.mark.slow
def test_on_a_phone_the_rows_are_picked_one_by_one_with_buttons_a_finger_can_hit(browser, server):
    """The reading view's rows are 7 px tall on a phone (9 on its side): too thin to tap the one meant."""
    box = "return document.getElementById(arguments[0]).getBoundingClientRect().toJSON()"
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        assert not driver.find_element(By.ID, "row-down").is_displayed()  # no rows yet, no buttons
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        shown = wait_for_answer(driver)
        decided = int(shown["summary"].split("after row ")[1].split()[0])
        for width, height in (PHONE, (844, 390)):
            layout(driver, width, height)
            assert row_height(driver) < 10
            for button in ("row-up", "row-down"):
                size = driver.execute_script(box, button)
                assert size["width"] >= 44 and size["height"] >= 44, (button, width, size)
        driver.execute_script("document.getElementById('row-down').scrollIntoView({block: 'center'})")
        detail = driver.find_element(By.ID, "row-detail")
        driver.find_element(By.ID, "row-down").click()  # before any pick: the row where it made up its mind
        assert detail.text.startswith(f"After row {decided}: ")
        driver.find_element(By.ID, "row-down").click()
        assert detail.text.startswith(f"After row {decided + 1}: ")
        for _ in range(3):
            driver.find_element(By.ID, "row-up").click()
        assert detail.text.startswith(f"After row {decided - 2}: ")
        picked = driver.find_elements(By.CSS_SELECTOR, '#reading [aria-selected="true"]')
        assert [row.get_attribute("data-row") for row in picked] == [str(decided - 2)]
    with new_tab(browser) as driver:  # a mouse picks a row of 10 px: no buttons
        driver.get(server + "/")
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""
        assert not driver.find_element(By.ID, "row-down").is_displayed()


def row_height(driver) -> float:
    return driver.execute_script("return document.querySelector('#reading .row').getBoundingClientRect().height")


@pytest.mark.slow
@pytest.mark.parametrize("served", ["server", "fashion_server"])
def test_on_a_phone_on_its_side_the_drawing_hint_is_on_screen(browser, served, request):
    """At 844x390 the hint under the buttons was below the screen: Fashion-MNIST's "Fill it in" entirely."""
    hint = "const r = document.getElementById('hint').getBoundingClientRect(); return [r.top, r.bottom, " \
           "getComputedStyle(document.getElementById('hint')).visibility]"  # fmt: skip
    with new_tab(browser, phone=True) as driver:
        driver.get(request.getfixturevalue(served) + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        for width, height in ((844, 390), (640, 360), (568, 320)):
            layout(driver, width, height)
            top, bottom, visibility = driver.execute_script(hint)
            assert 0 <= top and bottom <= height and visibility == "visible", (width, height, top, bottom)
        text = driver.find_element(By.ID, "hint").text
        assert text.startswith("Draw one") and ("Fill it in" in text) == (served == "fashion_server")
        # On the empty pad: gone once it has ink (the drawing is not under words), back after Clear.
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        assert driver.execute_script(hint)[2] == "hidden"
        driver.find_element(By.ID, "clear").click()
        assert driver.execute_script(hint)[2] == "visible"
        layout(driver, *PHONE)  # upright it stays under the pad, with the drawing
        top, bottom, visibility = driver.execute_script(hint)
        pad = driver.execute_script("return document.getElementById('pad').getBoundingClientRect().bottom")
        assert top >= pad and bottom <= PHONE[1] and visibility == "visible"


LEGEND = """
    const legend = document.querySelector("#views-card .legend"), dash = legend.querySelector(".dash");
    const words = dash.nextElementSibling, box = (e) => e.getBoundingClientRect();
    return { shown: legend.offsetParent !== null, words: words.textContent,
             same_line: Math.abs(box(dash).top + box(dash).height / 2 - (box(words).top + box(words).height / 2)) < 4 };
"""


def test_the_legend_names_the_dashed_line_in_the_sentences_words(browser, server):
    """Under "Not sure: ... Its first guess stayed the same after row 1 of 28." the legend still called the dashed
    line "made up its mind"; and on a phone the longer words wrapped to the next line, apart from their dash."""
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        for top, rest, words in ((0.547, 0.429, "first guess stayed the same"), (0.97, 0.02, "made up its mind")):
            summary = driver.execute_script(SHOW, top, rest, False, True)["summary"]
            legend = driver.execute_script(LEGEND)
            assert f"{words} after row 1 of 28." in summary.lower() and legend["words"] == words, (summary, legend)
            assert legend["shown"] and legend["same_line"], legend
        driver.execute_script(SHOW, 0.547, 0.429, False, True)
        driver.find_element(By.ID, "clear").click()  # back to the words of no answer yet
        assert driver.execute_script(LEGEND)["words"] == "made up its mind"


ROW_PARTS = """
    const shown = (selector) => document.querySelector(selector).offsetParent !== null;
    return { hint: shown("#row-detail"), legend: shown("#views-card .legend") };
"""


@pytest.mark.slow
def test_the_rows_hint_and_legend_show_only_with_rows_to_read(browser, server):
    """Before any answer the card said "Tap or click a row, or Tab to the rows ..." and showed the legend of the
    rows' marks, beside an empty space with no rows in it."""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        assert driver.execute_script(ROW_PARTS) == {"hint": False, "legend": False}
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["3"])
        assert wait_for_answer(driver)["error"] == ""
        assert driver.execute_script(ROW_PARTS) == {"hint": True, "legend": True}
        driver.find_element(By.ID, "clear").click()
        assert driver.execute_script(ROW_PARTS) == {"hint": False, "legend": False}


@pytest.mark.slow
def test_a_digit_drawn_as_large_as_the_pad_is_read(browser, server):
    """A 7 as large as the pad, its bar along the top edge, got "No digit found in that picture: draw one larger"
    (the bar was taken for the background): the page's own strokes, as the browser draws and sends them."""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        draw(driver, driver.find_element(By.ID, "pad"), [[(0.02, 0.02), (0.98, 0.02), (0.6, 0.5), (0.4, 0.98)]])
        answer = wait_for_answer(driver)  # of the tests' tiny network: an answer, whichever class
        assert answer["error"] == "" and answer["bars"] > 0 and answer["lit_pixels"] > 50, answer


def test_the_answer_to_a_file_of_several_frames_is_not_shown_as_a_sure_answer_about_the_whole(browser, server):
    """An animated GIF's first frame read "7" in big indigo and "The answer is 7, 99.7% sure" beside the note that
    only the first frame was read: a sure answer about the file at a glance, where the probability is of one frame.
    It is greyed and named as a picture of several digits' is."""
    show = """
        const probabilities = Array.from({ length: 10 }, (_, k) => (k === 2 ? 0.97 : k === 4 ? 0.02 : 0.01 / 8));
        const prepared = Array.from({ length: 28 }, () => Array(28).fill(0));
        show({ class: 2, probabilities, prepared, several: false, small: false, frames: arguments[0] });
        const big = document.getElementById("big");
        return { big: big.textContent, unsure: big.classList.contains("unsure"),
                 summary: document.getElementById("summary").textContent };
    """
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        one = driver.execute_script(show, 1)
        assert one["big"] == "2" and not one["unsure"] and one["summary"].startswith("The answer is 2, 97.0% sure")
        three = driver.execute_script(show, 3)
        assert three["big"] == "2?" and three["unsure"]
        assert three["summary"].startswith("The digit under \u201cWhat it saw\u201d is 2, 97.0% sure; then 4 2.0%")


@pytest.mark.slow
def test_a_picture_dropped_on_the_page_or_pasted_is_sent_as_an_upload_and_the_page_stays(browser, server):
    """A file dragged onto the page from a file manager: a browser opens it in the page's place when the page does
    not take it (its drawing and answer gone). Dropped, or pasted (Ctrl+V of a copied picture), it is sent as one
    chosen with **Upload an image**, and shown on the pad."""
    picture = io.BytesIO()
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(picture, "PNG")
    give = """
        const [encoded, kind] = arguments;
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "three.png", { type: "image/png" }));
        const target = document.getElementById("answer-card");  // anywhere on the page, not only the pad
        const options = { bubbles: true, cancelable: true };
        const events = kind === "paste" ? [new ClipboardEvent("paste", { ...options, clipboardData: transfer })]
            : [new DragEvent("dragover", { ...options, dataTransfer: transfer }),
               new DragEvent("drop", { ...options, dataTransfer: transfer })];
        return events.map((event) => { target.dispatchEvent(event); return event.defaultPrevented; });
    """
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        count_requests(driver)
        for sent, kind in enumerate(("drop", "paste"), start=1):
            driver.find_element(By.ID, "clear").click()
            # the browser's own handling (opening the file) prevented, for the dragover and the drop
            assert all(driver.execute_script(give, base64.b64encode(picture.getvalue()).decode(), kind)), kind
            answer = wait_for_answer(driver)
            assert answer["error"] == "" and answer["lit_pixels"] > 20, (kind, answer)
            assert driver.execute_script("return window.posts") == sent
            WebDriverWait(driver, 10).until(lambda d: state(d)["pad_lit"] > 0)  # the picture, shown on the pad


@pytest.mark.slow
def test_a_folder_dropped_on_the_page_is_told_to_be_a_folder_and_a_picture_beside_it_is_read(browser, server, tmp_path):
    """A folder dragged from a file manager onto the page: the browser gives it as a file it cannot read, and the page
    sent it, to fail as if the server were down ("The server did not answer. Is mnist_rnn serve still running?").
    Dropped alone, the page says it is a folder and sends nothing; dropped with a picture, the picture is read.
    Dropped as a file manager drops, through Chromium's own drag and drop (DevTools' Input.dispatchDragEvent): a
    page's script cannot make a DataTransfer of a folder."""
    folder = tmp_path / "my digits"
    folder.mkdir()
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(folder / "three.png")

    def drop(*paths) -> None:
        data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            driver.execute_cdp_cmd("Input.dispatchDragEvent", {"type": kind, "x": 200, "y": 200, "data": data})

    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        count_requests(driver)
        drop(folder)
        assert wait_for_answer(driver)["error"] == (
            "That is a folder (my digits), not a picture: open it and drop one of its pictures."
        )
        assert driver.execute_script("return window.posts") == 0
        driver.find_element(By.ID, "clear").click()
        drop(folder, folder / "three.png")
        answer = wait_for_answer(driver)
        assert answer["error"] == "" and answer["lit_pixels"] > 20, answer
        assert driver.execute_script("return window.posts") == 1


@pytest.mark.slow
def test_of_several_pictures_dropped_or_pasted_the_page_says_which_one_it_read(browser, server):
    """Several files dropped (selected together in a file manager) or pasted at once: the first was sent without a
    word, and the others seemed read too, or lost. The page says which one it read, in the hint under the pad; on a
    phone on its side, where the hint over a picture is hidden, over the foot of the picture. A screen reader says
    it too, before the answer or beside the error: the hint is no live region, and the answer alone did not say
    of which file it was."""
    picture = io.BytesIO()
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10), ink=0, paper=255).save(picture, "PNG")
    give = """
        const [encoded, kind, names] = arguments;
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        for (const name of names) {  // a .txt file holds text, not the picture
          const text = name.endsWith(".txt");
          transfer.items.add(new File([text ? "shopping list" : bytes], name,
                                      { type: text ? "text/plain" : "image/png" }));
        }
        const options = { bubbles: true, cancelable: true };
        document.getElementById("answer-card").dispatchEvent(kind === "paste"
            ? new ClipboardEvent("paste", { ...options, clipboardData: transfer })
            : new DragEvent("drop", { ...options, dataTransfer: transfer }));
    """
    hint = "const h = document.getElementById('hint'); return [h.textContent, getComputedStyle(h).visibility];"
    announced = "return window.said.filter(([region, text]) => region === 'announce' && text).map(([, t]) => t);"
    for width, height in ((1280, 1000), (844, 390)):
        with new_tab(browser, width, height) as driver:
            driver.get(server + "/")
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
            count_requests(driver)
            driver.execute_script(LIVE)
            for sent, (kind, names, said) in enumerate(
                [
                    (
                        "drop",
                        ["three.png", "seven.png", "four.png"],
                        "3 pictures dropped: reading the first, three.png.",
                    ),
                    ("paste", ["three.png", "notes.txt"], "2 files pasted: reading the first, three.png."),
                ],
                start=1,
            ):
                driver.find_element(By.ID, "clear").click()
                driver.execute_script(give, base64.b64encode(picture.getvalue()).decode(), kind, names)
                answer = wait_for_answer(driver)
                assert answer["error"] == "" and driver.execute_script("return window.posts") == sent, answer
                WebDriverWait(driver, 10).until(lambda d: state(d)["pad_lit"] > 0)  # the picture, shown on the pad
                assert driver.execute_script(hint) == [said, "visible"], (width, kind)
                # said once, with the answer: "3 pictures dropped: reading the first, three.png. The answer is 3, …"
                assert driver.execute_script(announced)[-1:] == [f"{said} {answer['summary']}"], (width, kind)
            # The first refused (a text file): its error is said (role="alert"), and beside it which file it was.
            driver.find_element(By.ID, "clear").click()
            driver.execute_script("window.said = [];")
            driver.execute_script(give, "", "drop", ["notes.txt", "three.png"])
            assert wait_for_answer(driver)["error"].startswith("That file is not a picture")
            assert driver.execute_script(announced) == ["2 files dropped: reading the first, notes.txt."], width
            # One file: the hint as it was, and the answer said alone.
            driver.find_element(By.ID, "clear").click()
            driver.execute_script(give, base64.b64encode(picture.getvalue()).decode(), "drop", ["one.png"])
            answer = wait_for_answer(driver)
            assert "reading the first" not in driver.execute_script(hint)[0]
            assert driver.execute_script(announced)[-1:] == [answer["summary"]], width


@pytest.mark.slow
def test_a_file_the_browser_cannot_read_is_told_so_not_blamed_on_the_server(browser, server, tmp_path):
    """A file chosen and then moved or deleted before it is read (or a folder pasted, or one without read permission):
    the browser cannot read it, and its upload failed as if the server were down ("The server did not answer. Is
    mnist_rnn serve still running?"), with a "Try again" that failed the same way. The page reads the file first,
    says it could not, and sends nothing. The page's handler of the file input is held back (the event stopped on its
    way) while the file is deleted, then given the input's change: what a slow hand and a file manager do."""
    three = tmp_path / "three.png"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(three)
    hold = "document.addEventListener('change', (e) => e.stopPropagation(), { capture: true, once: true });"
    release = "document.getElementById('file').dispatchEvent(new Event('change', { bubbles: true }));"
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        count_requests(driver)
        driver.execute_script(hold)
        driver.find_element(By.ID, "file").send_keys(str(three))
        three.unlink()
        driver.execute_script(release)
        assert wait_for_answer(driver)["error"] == (
            "Could not open three.png: was it moved or deleted since it was chosen, or is it a folder? "
            "Nothing was sent. Choose a picture again."
        )
        assert driver.execute_script("return window.posts") == 0
        assert not driver.find_element(By.ID, "retry").is_displayed()  # the same file fails the same way
        assert not state(driver)["busy"]

        # Changed on disk after it was chosen (saved again by an editor): the browser will not read it either.
        render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(three)
        driver.execute_script(hold)
        driver.find_element(By.ID, "file").send_keys(str(three))
        time.sleep(1.1)  # a modification time of its own, as the browser compares them
        render_digit(7, canvas=(200, 200), size=160, at=(40, 10)).save(three)
        driver.execute_script(release)
        assert wait_for_answer(driver)["error"].startswith("Could not read three.png: was it changed")

        # Chosen again, it is read and sent.
        driver.find_element(By.ID, "file").send_keys(str(three))
        answer = wait_for_answer(driver)
        assert answer["error"] == "" and answer["lit_pixels"] > 20, answer
        assert driver.execute_script("return window.posts") == 1


@pytest.mark.slow
def test_a_long_file_name_wraps_on_a_phone_and_the_page_does_not_scroll_sideways(browser, server, tmp_path):
    """The hint under the pad and the error name the file, and a phone's photo has a long name without spaces: on
    a phone the page grew wider than the screen, and scrolled sideways, its pad half off it."""
    name = "IMG_20261207_201530_HDR_portrait_mode_burst_0001_COVER_edited_final_version2"
    give = """const transfer = new DataTransfer();
        for (const name of arguments[0]) transfer.items.add(new File(["shopping list"], name, { type: "text/plain" }));
        const options = { bubbles: true, cancelable: true, dataTransfer: transfer };
        document.body.dispatchEvent(new DragEvent("drop", options));"""
    wide = "return document.scrollingElement.scrollWidth - document.documentElement.clientWidth;"
    picture = tmp_path / f"{name}.png"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(picture)
    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        driver.execute_script(give, [f"{name}.txt", "notes.txt"])  # the hint: "2 files dropped: reading the first, …"
        assert wait_for_answer(driver)["error"].startswith("That file is not a picture")
        assert name in driver.find_element(By.ID, "hint").text
        assert driver.execute_script(wide) == 0

        # The error names a file the browser could not read (deleted after it was chosen).
        driver.find_element(By.ID, "clear").click()
        driver.execute_script(
            "document.addEventListener('change', (e) => e.stopPropagation(), { capture: true, once: true });"
        )
        driver.find_element(By.ID, "file").send_keys(str(picture))
        picture.unlink()
        driver.execute_script("document.getElementById('file').dispatchEvent(new Event('change', { bubbles: true }));")
        assert wait_for_answer(driver)["error"].startswith(f"Could not open {name}.png")
        assert driver.execute_script(wide) == 0


@pytest.mark.slow
def test_an_empty_file_is_told_by_its_name_and_an_answer_on_its_way_is_not_shown_beside_a_refused_file(
    browser, server, tmp_path
):
    """An empty file (0 bytes: a download cut short) was sent, and told in the server's words, naming no file ("The
    server could not read that: not a readable image (empty file): …"); the page says it, by its name, and sends
    nothing. A file refused before it is sent (empty, too large) while the answer to the picture before was on its
    way: that answer came, and was shown beside the error as the answer to the file refused."""
    three, empty, huge = tmp_path / "three.png", tmp_path / "empty.png", tmp_path / "huge.jpg"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(three)
    empty.write_bytes(b"")
    huge.write_bytes(b"\xff\xd8\xff\xe0" + bytes(21 * 1024 * 1024))
    told = "empty.png is empty (0 bytes): there is no picture in it. Nothing was sent. Choose another file."
    drop_empty = """const transfer = new DataTransfer();
        transfer.items.add(new File([], "empty.png", { type: "image/png" }));
        const options = { bubbles: true, cancelable: true, dataTransfer: transfer };
        document.body.dispatchEvent(new DragEvent("drop", options));"""
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        count_requests(driver)
        driver.find_element(By.ID, "file").send_keys(str(empty))
        assert wait_for_answer(driver)["error"] == told
        assert not driver.find_element(By.ID, "retry").is_displayed()  # the same file is as empty again
        driver.find_element(By.ID, "clear").click()
        driver.execute_script(drop_empty)
        assert wait_for_answer(driver)["error"] == told
        assert driver.execute_script("return window.posts") == 0

        driver.get(server + "/")  # a fresh page, its fetch counted once more, with the answers held
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        driver.execute_script(HOLD_ANSWERS)
        for refused, error in ((empty, told), (huge, "That image is too large (21.0 MB: the limit is 20 MB).")):
            driver.find_element(By.ID, "clear").click()
            sent = driver.execute_script("return window.posts")
            driver.find_element(By.ID, "file").send_keys(str(three))
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.held()") == 1)
            answered = driver.execute_script("return window.answered") + 1
            driver.find_element(By.ID, "file").send_keys(str(refused))
            assert wait_for_answer(driver)["error"].startswith(error)
            driver.execute_script("window.answer()")  # the answer to three.png comes now
            WebDriverWait(driver, 10).until(lambda d, n=answered: d.execute_script("return window.answered") == n)
            shown = wait_for_answer(driver)
            assert shown["error"].startswith(error) and shown["big"] == "?" and shown["bars"] == 0, shown
            assert driver.execute_script("return window.posts") == sent + 1  # three.png's alone
            assert not state(driver)["busy"]


@pytest.mark.slow
def test_a_picture_or_a_link_dragged_from_another_page_or_pasted_is_read_or_told_what_to_do(browser, server):
    """A picture dragged from another web page, or a link, comes as its address (text/uri-list) and HTML (an <img>),
    without a file: the page did not take it (the drop did nothing here; a browser goes to the address, the drawing
    and the answer gone). A picture held in the page (a data: address) is read and sent; of one elsewhere only the
    address came, and the page says what to do. So too of an address pasted (Ctrl+V of "Copy image address"), which
    did nothing; a screenshot pasted from the clipboard is read. Dropped as a browser drops (DevTools'
    Input.dispatchDragEvent), pasted from the clipboard with Ctrl+V."""
    picture = io.BytesIO()
    render_digit(7, canvas=(200, 200), size=160, at=(40, 10)).save(picture, "PNG")
    encoded = base64.b64encode(picture.getvalue()).decode()
    inline = f"data:image/png;base64,{encoded}"
    elsewhere = "https://example.org/w/images/thumb/seven.png?width=300"

    def drop(types: dict[str, str]) -> None:
        items = [{"mimeType": kind, "data": data} for kind, data in types.items()]
        data = {"items": items, "dragOperationsMask": 1 | 2 | 16}  # copy, link, move: as a browser offers them
        for kind in ("dragEnter", "dragOver", "drop"):
            driver.execute_cdp_cmd("Input.dispatchDragEvent", {"type": kind, "x": 200, "y": 200, "data": data})

    def paste(text: str = "", png: str = "") -> None:
        write = """const [text, png, done] = arguments;
            const item = png ? { "image/png": new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))],
                                                       { type: "image/png" }) }
                             : { "text/plain": new Blob([text], { type: "text/plain" }) };
            navigator.clipboard.write([new ClipboardItem(item)]).then(() => done(""), (e) => done(String(e)));"""
        assert driver.execute_async_script(write, text, png) == ""
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("v").key_up(Keys.CONTROL).perform()

    save = "Save the picture first (right-click it: \u201cSave image as\u201d), then drop or upload the file"
    with new_tab(browser) as driver:
        driver.get(server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        count_requests(driver)
        in_a_link = f'<a href="https://example.org/wiki/Seven"><img src="{elsewhere}"></a>'
        drop({"text/uri-list": elsewhere, "text/html": in_a_link})
        assert wait_for_answer(driver)["error"] == (
            f"That is a picture on another web page (seven.png): only its address came, not the picture. {save}."
        )
        drop({"text/uri-list": "https://example.org/wiki/Seven", "text/plain": "https://example.org/wiki/Seven"})
        assert wait_for_answer(driver)["error"] == (
            "That is a link (https://example.org/wiki/Seven), not a picture: only its address came. Open it, save "
            "the picture it shows, then drop or upload the file."
        )
        assert driver.execute_script("return window.posts") == 0
        drop({"text/uri-list": inline, "text/html": f'<img src="{inline}" alt="7">'})
        answer = wait_for_answer(driver)
        assert answer["error"] == "" and answer["lit_pixels"] > 20, answer
        assert driver.execute_script("return window.posts") == 1

        # Words of this page selected and dragged onto it are left to the browser.
        drag_here = """const transfer = new DataTransfer();
            transfer.setData("text/html", "<b>The answer</b>");
            const summary = document.getElementById("summary");
            summary.dispatchEvent(new DragEvent("dragstart", { bubbles: true, dataTransfer: transfer }));
            const over = new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: transfer });
            summary.dispatchEvent(over);
            summary.dispatchEvent(new DragEvent("dragend", { bubbles: true, dataTransfer: transfer }));
            const after = new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: transfer });
            summary.dispatchEvent(after);
            return [over.defaultPrevented, after.defaultPrevented];"""
        assert driver.execute_script(drag_here) == [False, True]  # from elsewhere (after the drag here) it is taken

        origin = re.match(r"https?://[^/]+", server).group(0)
        permissions = ["clipboardReadWrite", "clipboardSanitizedWrite"]
        driver.execute_cdp_cmd("Browser.grantPermissions", {"permissions": permissions, "origin": origin})
        driver.find_element(By.ID, "title").click()  # the page focused, no ink on the pad
        paste(text=elsewhere)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "error").text)
        assert driver.find_element(By.ID, "error").text == (
            f"That is a picture on another web page (seven.png): only its address came, not the picture. {save}, or "
            "copy the picture itself (\u201cCopy image\u201d) and paste it."
        )
        paste(png=encoded)  # a screenshot, or a picture copied with "Copy image"
        answer = wait_for_answer(driver)
        assert answer["error"] == "" and answer["lit_pixels"] > 20, answer
        assert driver.execute_script("return window.posts") == 2
        paste(text="seven")  # words pasted: left alone, and the answer with them
        time.sleep(0.3)
        assert wait_for_answer(driver) == answer
