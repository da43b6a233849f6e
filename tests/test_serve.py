"""``python -m mnist_rnn serve`` over real HTTP on a free loopback port, and its page in a real headless Chromium.

One server (a subprocess, as a user starts it) serves every test here and test_page.py's (tests/conftest.py's
``server``, started once); the checkpoint is a tiny one trained on the fake data. The browser test needs Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); it is never skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import csv
import gzip
import io
import itertools
import json
import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from selenium.webdriver.support.ui import WebDriverWait

from mnist_rnn.cli import main
from mnist_rnn.errors import UserError
from mnist_rnn.preparation import prepare
from mnist_rnn.serve import app, http
from mnist_rnn.serve.http import RequestError, upload_bytes
from tests.helpers import (
    ROOT,
    cli_subprocess,
    finish,
    free_port,
    no_process_left,
    one_line_error,
    processes,
    render_digit,
    spawned_by,
)
from tests.page_driver import DIGITS, count_requests, draw, new_tab, wait_for_answer

pytestmark = pytest.mark.slow  # a server in a subprocess (still run by CI: .ci/run runs every test)


@pytest.fixture(scope="module")
def checkpoint(mnist_checkpoint) -> Path:
    """The checkpoint ``server`` serves (tests/conftest.py)."""
    return mnist_checkpoint


@pytest.fixture(scope="module")
def exported_onnx(checkpoint, tmp_path_factory) -> Path:
    """:func:`checkpoint` exported by ``export --format onnx``, once for the tests here (read, never written)."""
    onnx_file = tmp_path_factory.mktemp("exported") / "tiny.onnx"
    main(["export", "--ckpt_path", str(checkpoint), "--format", "onnx", "--output", str(onnx_file)])
    return onnx_file


@contextmanager
def serving(
    checkpoint: Path | None,
    folder: Path,
    ctrl_c: bool = False,
    twice: bool = False,
    group_sigterm: bool = False,
    onnx: Path | None = None,
) -> Iterator[str]:
    """The base URL of a running ``serve`` of ``checkpoint`` (and of ``onnx``: alone where ``checkpoint`` is
    None); stopped (SIGTERM, as a user would) afterwards, or with ``ctrl_c`` by SIGINT to its whole process
    group, as Ctrl+C in a terminal sends it; ``twice``: SIGTERM again 50 ms later, as ``timeout`` sends it to
    its command, then to the command's group; ``group_sigterm``: SIGTERM to the whole group, as
    ``kill -- -PGID`` or systemd send it.

    Each start checks that the line ``mnist-rnn: serving ...`` comes once the port takes connections: it was
    printed before LitServe loaded the model, seconds before, and a newcomer who opened the address at once got
    "connection refused"."""
    port = free_port()
    model = ([] if checkpoint is None else ["--ckpt_path", str(checkpoint)]) + (
        [] if onnx is None else ["--onnx", str(onnx)]
    )
    process = cli_subprocess(["serve", *model, "--port", str(port)], folder, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + 120
        while not condition():
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{serve_log(folder)}")
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not {what}:\n{serve_log(folder)}")
            time.sleep(0.1)

    try:
        wait_until(lambda: "mnist-rnn: serving " in serve_log(folder), "say that it is serving")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # refused before
        wait_until(lambda: healthy(url), "answer /health")
        yield url
    finally:
        if ctrl_c or group_sigterm:
            os.killpg(process.pid, signal.SIGINT if ctrl_c else signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
            if twice:
                time.sleep(0.05)
                process.send_signal(signal.SIGTERM)
        finish(process, timeout=60)
    assert process.returncode == 0, (folder / "run.log").read_text()


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers /health with 200 (not yet, or no more: False)."""
    try:
        return get(url + "/health")[0] == 200
    except OSError:
        return False


def request(url: str, data: bytes | None = None, content_type: str | None = None, method: str = "POST", headers=None):
    """(status, body) of one HTTP request; error statuses are answers too."""
    headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(url: str):
    return request(url, method="GET")


def encode(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def multipart(field: str, data: bytes, boundary: str = "mnistrnnboundary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="digit.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


PICTURES = {
    "scan.png": lambda: render_digit(3, canvas=(300, 200), size=120, at=(150, 40), ink=0, paper=255),
    "photo.jpg": lambda: render_digit(7, (200, 300), 150, ink=(20, 20, 80), paper=(230, 220, 200), mode="RGB"),
    "five.bmp": lambda: render_digit(5, canvas=(64, 64), size=50, ink=0, paper=255),
    "mnist_style.gif": lambda: render_digit(8),
    "saved_from_the_web.webp": lambda: render_digit(4, canvas=(150, 150), size=110, ink=255, paper=0),
    "iphone.heic": lambda: render_digit(2, (300, 400), 200, ink=(40, 40, 50), paper=(225, 220, 210), mode="RGB"),
}  # fmt: skip
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".gif": "GIF", ".webp": "WEBP", ".heic": "HEIF"}


def test_an_image_gets_the_answer_predict_gives(server, checkpoint, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    answers = {}
    for name, make in PICTURES.items():
        data = encode(make(), FORMATS[Path(name).suffix])
        (folder / name).write_bytes(data)
        status, body = request(server + "/predict", data, "application/octet-stream")
        assert status == 200, body
        answers[name] = json.loads(body)

    monkeypatch.chdir(tmp_path)
    main(["predict", "--ckpt_path", str(checkpoint), "--data.predict_path", str(folder)])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    assert len(rows) == len(PICTURES)
    for path, digit, probability in rows:
        answer = answers[Path(path).name]
        assert answer["class"] == int(digit)
        assert abs(answer["probabilities"][answer["class"]] - float(probability)) <= 1e-4

    for answer in answers.values():
        probabilities = np.array(answer["probabilities"])
        assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-5
        assert answer["class"] == int(probabilities.argmax())
        assert answer["class_name"].startswith(f"{answer['class']} - ")  # MNIST's names: "7 - seven"
        assert answer["several"] is False and answer["small"] is False  # one digit in each, large enough
        prepared = np.array(answer["prepared"])
        assert prepared.shape == (28, 28) and prepared.min() >= 0 and prepared.max() == 255
        # Six decimals, not float32's rounding noise (0.0002469999890308827), which doubled the answer's size.
        assert all(value == round(value, 6) for row in answer["per_step"] for value in row)
        per_step, per_row = np.array(answer["per_step"]), np.array(answer["per_row"])
        assert per_step.shape == (28, 10) and per_row.shape == (28, 10)  # rows: one step per row
        assert np.abs(per_step[-1] - probabilities).max() < 1e-5  # the last step is the answer


def test_a_picture_of_two_digits_is_answered_with_the_warning_predict_gives(server):
    two = render_digit(38, canvas=(220, 120), size=90, at=(20, 10), ink=0, paper=255)  # "3" beside "8"
    status, body = request(server + "/predict", encode(two, "PNG"), "image/png")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["several"] is True
    assert answer["prepared"] == prepare(two).pixels[0].tolist()  # one of them, as predict reads it


def test_a_thumbnail_is_answered_with_the_warning_predict_gives(server):
    icon = render_digit(4, canvas=(200, 200), size=180, ink=0, paper=255).resize((8, 8))
    status, body = request(server + "/predict", encode(icon, "PNG"), "image/png")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["small"] is True and answer["several"] is False


def animation(digits: tuple[int, ...] = (7, 1, 4)) -> tuple[bytes, list[Image.Image]]:
    """An animated GIF of one digit per frame, and its frames."""
    frames = [render_digit(k, canvas=(120, 120), size=90, ink=0, paper=255) for k in digits]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buffer.getvalue(), frames


def test_an_animation_is_answered_with_its_frame_count_as_predict_warns(server):
    """serve read an animation's first frame and said nothing of the others, where predict warns."""
    gif, frames = animation()
    status, body = request(server + "/predict", gif, "image/gif")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["frames"] == 3
    assert answer["prepared"] == prepare(frames[0]).pixels[0].tolist()  # the first frame, as predict reads it
    single = json.loads(request(server + "/predict", encode(frames[0], "PNG"), "image/png")[1])
    assert single["frames"] == 1


def test_a_multipart_upload_answers_like_the_raw_body(server):
    data = encode(render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255), "PNG")
    raw = json.loads(request(server + "/predict", data, "image/png")[1])
    # The field 'file', or the form's one file in a field of another name (requests' files={"image": f}): it was
    # refused for want of a field named 'file'.
    for field in ("file", "image"):
        status, body = request(server + "/predict", *multipart(field, data))
        assert status == 200, body
        assert json.loads(body)["prepared"] == raw["prepared"]
        assert np.abs(np.array(json.loads(body)["probabilities"]) - raw["probabilities"]).max() < 1e-5


def test_a_json_upload_in_base64_or_as_a_data_url_answers_like_the_raw_body(server):
    """What JavaScript and API clients send: {"image": base64} (here with base64's line breaks) or a data: URL."""
    data = encode(render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255), "PNG")
    raw = json.loads(request(server + "/predict", data, "image/png")[1])
    wrapped = base64.encodebytes(data).decode()  # 76 columns, as `base64 digit.png` prints it
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    for image in (wrapped, url, "DATA" + url[4:]):  # a URL's scheme in any case
        status, body = request(server + "/predict", json.dumps({"image": image}).encode(), "application/json")
        assert status == 200, body
        assert json.loads(body)["prepared"] == raw["prepared"]
    # requests.post(url, data={"image": b64}): a URL-encoded form's field, as the JSON field
    form = urllib.parse.urlencode({"image": base64.b64encode(data).decode()}).encode()
    status, body = request(server + "/predict", form, "application/x-www-form-urlencoded")
    assert status == 200, body
    assert json.loads(body)["prepared"] == raw["prepared"]
    # An empty field (a file of no bytes) and a text file in the field: the reasons, not a 500 or curl's hint
    for field, status_wanted, reason in ((b"", 400, "empty file"), (b"my notes", 415, "not a PNG, JPEG")):
        form = urllib.parse.urlencode({"image": base64.b64encode(field).decode()}).encode()
        status, body = request(server + "/predict", form, "application/x-www-form-urlencoded")
        assert status == status_wanted and reason in json.loads(body)["error"], body
    # fetch(url, {method: "POST", body: canvas.toDataURL()}): the data: URL itself, sent as text/plain
    status, body = request(server + "/predict", url.encode(), "text/plain;charset=UTF-8")
    assert status == 200, body
    assert json.loads(body)["prepared"] == raw["prepared"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/octet-stream", ""]
)
@pytest.mark.parametrize("wrapped", [False, True], ids=["one-line", "76-columns"])
def test_a_body_of_nothing_but_the_files_base64_is_read_as_the_file(content_type, wrapped):
    """`curl -d "$(base64 -w0 digit.png)"` and `base64 digit.png | curl --data-binary @-` send the file's base64
    alone: refused as "not a PNG, JPEG, ..." file, or told that curl -d had dropped a file's line breaks."""
    from mnist_rnn.serve.http import upload_bytes

    data = encode(render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255), "PNG")
    text = base64.encodebytes(data) if wrapped else base64.b64encode(data)
    headers = [(b"content-type", content_type.encode())] if content_type else []
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers, "query_string": b""}
    assert asyncio.run(upload_bytes(scope, text)) == data
    # Base64 of what is no image stays the body it is (refused as no image, as before); a file stays the file.
    assert asyncio.run(upload_bytes(scope, base64.b64encode(b"my notes, not a picture"))) == base64.b64encode(
        b"my notes, not a picture"
    )
    assert asyncio.run(upload_bytes(scope, data)) == data


def upload_scope(content_type: str) -> dict:
    """The ASGI scope of a ``POST /predict`` with ``content_type``, for :func:`upload_bytes` in-process."""
    headers = [(b"content-type", content_type.encode())] if content_type else []
    return {"type": "http", "method": "POST", "path": "/predict", "headers": headers, "query_string": b""}


def text_fields(*fields: tuple[str, str], boundary: str = "----WebKitFormBoundaryx7Q") -> tuple[bytes, str]:
    """A multipart form of text fields (no file name), as a browser's FormData sends ``append(name, string)``."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields
    ]
    return f"{''.join(parts)}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_base64_as_clients_send_it_unencoded_in_a_form_field_or_after_a_line_break_is_read_as_the_file():
    """curl -d "image=$(base64 -w0 digit.png)" sends base64's "+" unencoded, a space in a URL-encoded form: "truncated
    or damaged PNG data". formData.append("image", canvas.toDataURL()) sends a data: URL as a multipart text field:
    "multipart upload without a file" (in a field 'file': "came without a file name"). A data: URL after a line
    break in JSON (a template literal's) was "not base64"."""
    data = encode(render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255), "PNG")
    encoded = base64.b64encode(data).decode()
    assert "+" in encoded  # so the unencoded form's spaces are tried
    url = "data:image/png;base64," + encoded
    bodies = [
        (f"image={encoded}".encode(), "application/x-www-form-urlencoded"),
        text_fields(("image", url)),
        text_fields(("note", "my four"), ("file", base64.encodebytes(data).decode())),  # 76 columns, as `base64` prints
        text_fields(("digit", url)),
        (json.dumps({"image": "\n  " + url}).encode(), "application/json"),
        # another field's name than "image" in a URL-encoded form: "not a readable image" before
        (f"file={encoded}".encode(), "application/x-www-form-urlencoded"),
        (f"note=my+four&data={urllib.parse.quote(url)}".encode(), "application/x-www-form-urlencoded"),
    ]
    for body, content_type in bodies:
        assert asyncio.run(upload_bytes(upload_scope(content_type), body)) == data, body[:60]
    # Text that is no picture's base64 in a form is refused as before; a file's bytes as text still told so.
    for body, reason in (
        (text_fields(("image", "my four")), "multipart upload without a file"),
        (text_fields(("file", "\x89PNG not a file")), "the field 'file' came without a file name"),
    ):
        with pytest.raises(RequestError, match=reason):
            asyncio.run(upload_bytes(upload_scope(body[1]), body[0]))


def test_a_pictures_file_name_or_address_sent_in_its_place_is_told_to_send_the_file():
    """The @ left out, curl sends a file's name as the picture (curl --data-binary digit.png, curl -d, curl -F
    file=digit.png), and requests sends it so where a path is given for the file (files={"file": "digit.png"},
    data={"file": "digit.png"}): each was "not a PNG, JPEG, ..." file, or a field "without a file name", to a user
    whose digit.png is a PNG. Other text is refused as before."""
    from mnist_rnn.serve.http import prepare_upload

    def told(body: bytes, content_type: str) -> tuple[int, str]:
        async def both():
            return prepare_upload(await upload_bytes(upload_scope(content_type), body))

        with pytest.raises(RequestError) as refused:
            asyncio.run(both())
        return refused.value.status, refused.value.message

    form = "application/x-www-form-urlencoded"
    named = (
        'the picture sent is the text "digit.png", a file\'s name, not the file: send the file itself (curl: an @ '
        'before its name, curl --data-binary @digit.png or curl -F file=@digit.png; requests: files={"file": '
        'open(path, "rb")})'
    )
    requests_file = multipart("file", b"digit.png")  # requests' files={"file": "digit.png"}: the text as the file
    for body, content_type in (
        (b"digit.png", form),
        (b"digit.png", "image/png"),
        (b"file=digit.png", form),
        requests_file,
    ):
        assert told(body, content_type) == (400, named), body
    assert told(*text_fields(("file", "digit.png"))) == (
        400,
        named.replace("the picture sent", "the form field 'file'"),
    )
    assert told(*text_fields(("image", "my photos/IMG 1.JPG")))[1].startswith(
        "the form field 'image' is the text \"my photos/IMG 1.JPG\", a file's name, not the file: send the file itself "
        '(curl: an @ before its name, curl --data-binary @"my photos/IMG 1.JPG" or curl -F file=@"my photos/IMG 1.JPG";'
    )
    assert told(b"https://example.com/seven.png", form) == (
        400,
        'the picture sent is the text "https://example.com/seven.png", an address, not the picture: this server does '
        "not fetch addresses; download the picture, then send the file (curl --data-binary @picture.png)",
    )
    for body, content_type in ((b"hello", form), (b"file=hello", form), (b"digit.png\nseven.png", "text/plain")):
        assert told(body, content_type)[1].startswith("not a readable image"), body
    assert (
        told(*text_fields(("image", "my four")))[1]
        == "multipart upload without a file (send the image as a file in the field 'file')"
    )


def test_a_file_percent_encoded_in_a_form_field_is_read_as_the_file():
    """curl --data-urlencode image@digit.png sends the file's own bytes percent-encoded, as the form field 'image'
    (``@digit.png``: the whole body, no name), as does requests' data={"image": png_bytes}: "the form field
    'image' is not base64", or no image. A text file so sent stays no image."""
    picture = render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255)
    form = "application/x-www-form-urlencoded"
    for kind in ("PNG", "JPEG", "GIF", "WEBP", "BMP"):
        data = encode(picture, kind)
        curl = urllib.parse.quote_from_bytes(data, safe="-._~")  # what curl leaves as it is
        bodies = [
            (f"image={curl}", form),
            (curl, form),  # curl --data-urlencode @digit.png
            (f"note=my+four&file={urllib.parse.quote_from_bytes(data)}", form),  # Python's quote leaves / too
            (urllib.parse.urlencode({"image": data}), form),  # requests' data=: quote_plus, a space as +
            (f"image={curl}", "image/png"),  # the docs' -H "Content-Type: image/png" with --data-urlencode
        ]
        for body, content_type in bodies:
            assert asyncio.run(upload_bytes(upload_scope(content_type), body.encode())) == data, (kind, body[:30])
    # The file itself under a form's type (curl --data-binary @digit.png, whose default type it is) stays the file.
    assert asyncio.run(upload_bytes(upload_scope(form), data)) == data
    notes = urllib.parse.quote_from_bytes(b"my notes\n\x89 not a picture").encode()
    assert asyncio.run(upload_bytes(upload_scope(form), notes)) == notes  # refused as no image, as before
    with pytest.raises(RequestError, match="the form field 'image' is not base64"):
        asyncio.run(upload_bytes(upload_scope(form), b"image=" + notes))


def test_a_file_read_as_text_in_a_form_or_json_field_is_told_so_as_the_raw_body_is():
    """``new URLSearchParams({image: binaryString})`` of FileReader.readAsBinaryString, or ``JSON.stringify`` of it,
    sends the file's bytes over 127 in UTF-8 (``image=%C2%89PNG...``): "the form field 'image' is not base64
    (string argument should contain only ASCII characters)". It is told what the raw body so read is (415), and how
    to send it; a file read as UTF-8 (U+FFFD for those bytes) too. Other text that is no base64 stays a 400. So are
    ``formData.append("image", binaryString)`` ("multipart upload without a file") and JSON.stringify(binaryString)
    as the whole body (told the shape JSON takes)."""
    picture = render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255)
    form = "application/x-www-form-urlencoded;charset=UTF-8"  # URLSearchParams' type
    for kind in ("PNG", "JPEG"):
        data = encode(picture, kind)
        for text in (data.decode("latin-1"), data.decode("utf-8", errors="replace")):  # binary string, UTF-8 read
            for body, content_type, what in (
                (urllib.parse.urlencode({"image": text}), form, "the form field 'image'"),
                (json.dumps({"image": text}, ensure_ascii=False), "application/json", "the 'image' field"),
                (json.dumps({"image": text}), "application/json", "the 'image' field"),  # as \u0089 escapes
            ):
                with pytest.raises(RequestError) as refused:
                    asyncio.run(upload_bytes(upload_scope(content_type), body.encode()))
                assert (refused.value.status, refused.value.message) == (
                    415,
                    f"{what} holds the image file itself, not its base64{http.TEXT_HINT}, or its base64 in the "
                    "field (JavaScript: btoa(binaryString))",
                ), (kind, body[:40])
            # formData.append("image", text): a multipart text field, in UTF-8 ("multipart upload without a file"),
            # every line break as CRLF as a browser's FormData sends it (the PNG signature's \n too); and
            # JSON.stringify(text) as the whole body (told the shape JSON takes).
            crlf = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
            for name, sent in (("image", crlf), ("file", crlf), ("image", text)):
                body, content_type = text_fields(("note", "my four"), (name, sent))
                with pytest.raises(RequestError) as refused:
                    asyncio.run(upload_bytes(upload_scope(content_type), body))
                assert (refused.value.status, refused.value.message) == (
                    415,
                    f"the form field '{name}' holds the image file itself as text, not as a file{http.TEXT_HINT}, as "
                    'a file in the form: formData.append("file", blob, "picture.png")',
                ), (kind, name)
            for content_type in ("application/json", "text/plain;charset=UTF-8"):
                with pytest.raises(RequestError) as refused:
                    asyncio.run(upload_bytes(upload_scope(content_type), json.dumps(text).encode()))
                assert (refused.value.status, refused.value.message) == (
                    415,
                    f"the body is a JSON string holding the image file itself, not its base64{http.TEXT_HINT}, or "
                    "its base64 (JavaScript: JSON.stringify({image: btoa(binaryString)}))",
                ), (kind, content_type)
    with pytest.raises(RequestError, match="not base64") as refused:
        asyncio.run(upload_bytes(upload_scope(form), urllib.parse.urlencode({"image": "\u00e9abc"}).encode()))
    assert refused.value.status == 400


def test_a_file_read_as_text_and_sent_under_jsons_type_is_told_so_as_under_any_other(server):
    """PowerShell's ``Invoke-RestMethod -Body (Get-Content digit.png -Raw) -ContentType application/json``: the file
    read as text, then sent in UTF-8 (PowerShell 7.4 on), or in a charset without the character its \\x89 became, as
    "?" (before 7.4), under JSON's type. It was "not valid JSON (Expecting value: line 1 column 1 (char 0))", though
    under any other type such a body is told it was read as text (415); the "?" of a PNG was no image under any."""
    picture = render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255)
    told = f"not a readable image{http.TEXT_HINT}"
    for kind in ("PNG", "JPEG"):
        data = encode(picture, kind)
        as_text = data.decode("utf-8", errors="replace")
        bodies = [as_text.encode(), data.decode("latin-1").encode()]  # PowerShell 7.4 on; a binary string
        bodies += [as_text.encode("latin-1", errors="replace")] if kind == "PNG" else []  # before 7.4
        for body in bodies:
            for content_type in ("application/json", "application/json; charset=utf-8", "text/plain", None):
                status, answer = request(server + "/predict", body, content_type)
                assert (status, json.loads(answer)) == (415, {"error": told}), (kind, body[:8], content_type)


def test_a_picture_over_the_limit_in_a_part_without_a_file_name_is_the_413_a_files_is():
    """A picture of over 20 MB in a part without a file name (requests' files={"file": (None, data)}), a text field
    to Starlette, was Starlette's "Part exceeded maximum size of 20480KB" (400), not the 413 of the same picture with
    a file name; and the base64 of a 16 MB picture (a third larger) in a text field, as formData.append("image",
    canvas.toDataURL()) sends it, was refused so too, though taken in a JSON body."""
    boundary = "mnistrnnboundary"
    form = f"multipart/form-data; boundary={boundary}"
    large = b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20)
    for filename in ("", '; filename="digit.png"'):
        body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"{filename}\r\n\r\n'.encode()
        body += large + f"\r\n--{boundary}--\r\n".encode()
        with pytest.raises(RequestError) as refused:
            asyncio.run(upload_bytes(upload_scope(form), body))
        assert (refused.value.status, refused.value.message) == (413, "upload of more than 20 MB: the limit is 20 MB")
    picture = b"\x89PNG\r\n\x1a\n" + bytes(16 * 2**20)
    body, content_type = text_fields(("image", "data:image/png;base64," + base64.b64encode(picture).decode()))
    assert len(body) > 20 * 2**20 and asyncio.run(upload_bytes(upload_scope(content_type), body)) == picture


def test_a_file_part_in_base64_is_decoded():
    """A form's file part of ``Content-Transfer-Encoding: base64`` (RFC 2045's, deprecated for forms by RFC 7578,
    still sent by some older clients): python-multipart leaves it encoded, and the picture was "not a PNG, JPEG, ..."
    file (415). It is decoded, in MIME's lines of 76 or on one line; a part so marked that is no base64 is told so."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    boundary = "mnistrnnboundary"
    for encoded in (base64.encodebytes(data).replace(b"\n", b"\r\n"), base64.b64encode(data)):
        for encoding in ("base64", "BASE64"):
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
                f"Content-Type: image/png\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            ).encode()
            body += encoded + f"\r\n--{boundary}--\r\n".encode()
            assert asyncio.run(upload_bytes(upload_scope(f"multipart/form-data; boundary={boundary}"), body)) == data
    body = body.replace(encoded, b"\x89PNG not base64")
    with pytest.raises(RequestError) as refused:
        asyncio.run(upload_bytes(upload_scope(f"multipart/form-data; boundary={boundary}"), body))
    assert refused.value.status == 400
    assert refused.value.message.startswith("the file of Content-Transfer-Encoding base64 is not base64 (")


def test_a_file_part_in_quoted_printable_is_decoded():
    """A form's file part of ``Content-Transfer-Encoding: quoted-printable``, RFC 2045's other encoding, as Python's
    email library writes a part (``set_content(data, cte="quoted-printable")``: ``=89PNG=0D=0A...``, in lines of 76
    with soft breaks): left encoded, as base64 was, and refused as "not a PNG, JPEG, ..." file (415)."""
    from email import policy
    from email.message import EmailMessage

    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    part = EmailMessage(policy=policy.HTTP)
    part.set_content(data, "image", "png", cte="quoted-printable", disposition="form-data", filename="digit.png")
    part.set_param("name", "file", header="Content-Disposition")
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in part.as_bytes() and b"=\r\n" in part.as_bytes()
    boundary = "mnistrnnboundary"
    for sent in (part.as_bytes(), part.as_bytes().replace(b"quoted-printable", b"Quoted-Printable")):
        body = f"--{boundary}\r\n".encode() + sent + f"\r\n--{boundary}--\r\n".encode()
        assert asyncio.run(upload_bytes(upload_scope(f"multipart/form-data; boundary={boundary}"), body)) == data


def test_a_picture_under_the_limit_in_a_quoted_printable_part_over_the_bodys_limit_is_told_why():
    """Quoted-printable writes each byte that is not printable ASCII as 3 characters ("=89"): a 10 MB picture's part is
    a body of about 30 MB, over MAX_BODY, and the 413 said "upload of more than 20 MB: the limit is 20 MB", untrue of
    the picture. Refused still (the body is held whole before it is decoded), but told why and how to send it; so too
    with its Content-Length announced (the body then drained, not kept) and gzip-compressed."""
    picture = b"\x89PNG\r\n\x1a\n" + bytes(10 * 2**20)
    part = b'Content-Disposition: form-data; name="file"; filename="photo.png"\r\nContent-Type: image/png\r\n'
    part += b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + binascii.b2a_qp(picture, istext=False).replace(
        b"\n", b"\r\n"
    )
    body = b"--mnistrnnboundary\r\n" + part + b"\r\n--mnistrnnboundary--\r\n"
    assert binascii.a2b_qp(part.partition(b"\r\n\r\n")[2]) == picture and len(body) > http.MAX_BODY
    told = (
        "upload of more than 28 MB: the limit is 20 MB for a picture (in a form part of Content-Transfer-Encoding "
        "quoted-printable, a picture takes up to 3 times its size: send the file as it is, curl -F "
        "file=@picture.png, or its part in base64)"
    )
    form_type = (b"content-type", b"multipart/form-data; boundary=mnistrnnboundary")
    for headers, sent in (
        ([form_type], body),
        ([form_type, (b"content-length", str(len(body)).encode())], body),
        ([form_type, (b"content-encoding", b"gzip")], gzip.compress(body, compresslevel=1)),
    ):
        scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers}
        chunks = [sent[at : at + 2**20] for at in range(0, len(sent), 2**20)]

        async def receive(chunks=chunks):
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

        async def one(scope=scope, receive=receive):
            return http.content_decoded(scope, await http.read_body(scope, receive))

        with pytest.raises(http.RequestError) as refused:
            asyncio.run(one())
        assert (refused.value.status, refused.value.message) == (413, told), headers


def test_a_files_own_bytes_in_a_part_without_a_file_name_are_read_as_the_file():
    """requests' files={"file": (None, data)} and curl -F "file=<digit.png" send the file's own bytes in a part
    without a file name, which Starlette reads as text, in Latin-1 where they are no UTF-8 (a PNG's, a JPEG's): it
    was told to give the file a name, though its bytes come back exactly. So are a picture whose bytes happen to be
    UTF-8, and the part with a Content-Type of its own; other bytes without a file name are still told to name the
    file."""
    picture = render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255)
    tiny = io.BytesIO()  # every byte of this BMP is UTF-8 (Starlette reads it so)
    Image.new("RGB", (4, 4), (16, 16, 16)).save(tiny, "BMP", dpi=(1, 1))
    boundary = "mnistrnnboundary"
    for data in (*(encode(picture, kind) for kind in ("PNG", "JPEG", "GIF", "WEBP")), tiny.getvalue()):
        for part_type, name in (("", "file"), ("", "image"), ("Content-Type: image/png\r\n", "file")):
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nmy four\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n{part_type}\r\n'
            ).encode()
            body += data + f"\r\n--{boundary}--\r\n".encode()
            scope = upload_scope(f"multipart/form-data; boundary={boundary}")
            assert asyncio.run(upload_bytes(scope, body)) == data, (data[:4], name, part_type)
    with pytest.raises(RequestError, match="the field 'file' came without a file name"):
        asyncio.run(upload_bytes(upload_scope(text_fields()[1]), text_fields(("file", "\x89PNG not a file"))[0]))


def test_a_form_sent_under_another_content_type_is_read_as_the_form():
    """curl -F file=@digit.png -H "Content-Type: image/png" (the docs' header for --data-binary) sends the form under
    that type, its boundary after it, each part an "attachment"; other clients set the type without the boundary.
    It was "not a readable image", or as JSON "not valid JSON ('utf-8' codec can't decode byte 0x89 ...)". And a
    file sent as it is under a form's type was told to leave the header to curl -F."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    body, _ = multipart("file", data)
    curl = body.replace(b"form-data;", b"attachment;")
    for sent, content_type in (
        (curl, "image/png; boundary=mnistrnnboundary"),
        (curl, "application/octet-stream; boundary=mnistrnnboundary"),
        (body, "application/json"),
        (body, ""),
        # and the file itself under a form's type (Invoke-RestMethod -InFile digit.png -ContentType multipart/form-data)
        (data, "multipart/form-data"),
        (data, "multipart/form-data; boundary=abc"),
    ):
        assert asyncio.run(upload_bytes(upload_scope(content_type), sent)) == data, content_type


def test_a_json_string_is_read_as_the_picture_or_told_the_shape_json_takes():
    """JSON.stringify(canvas.toDataURL()) and requests' json=b64 send the picture as the whole JSON document, a
    string: it was told the generic hint, as if the picture were missing. Without JSON.stringify, under JSON's
    type, it was "not valid JSON"."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    encoded = base64.b64encode(data).decode()
    for document in (encoded, "data:image/png;base64," + encoded):
        for content_type in ("application/json", "text/plain;charset=UTF-8"):  # fetch's type for a string body
            assert asyncio.run(upload_bytes(upload_scope(content_type), json.dumps(document).encode())) == data
    for document in ("hello", base64.b64encode(b"my notes").decode(), "data:image/png;base64,@@"):
        with pytest.raises(RequestError) as refused:
            asyncio.run(upload_bytes(upload_scope("application/json"), json.dumps(document).encode()))
        assert (refused.value.status, refused.value.message) == (
            400,
            "the body is a JSON string, not the picture's base64 or data: URL, nor an object: a JSON body needs "
            'the image file in base64 as its "image" field: {"image": "iVBORw0KGgo..."}',
        )
    # The data: URL or the base64 itself under JSON's type, JSON.stringify left out: "not valid JSON (Expecting
    # value: line 1 column 1 (char 0))". Other text that is not JSON is still told so.
    for body in ("data:image/png;base64," + encoded, encoded, base64.encodebytes(data).decode()):
        assert asyncio.run(upload_bytes(upload_scope("application/json"), body.encode())) == data
    for body in (b"my notes", base64.b64encode(b"my notes, not a picture")):
        with pytest.raises(RequestError, match=r"^not valid JSON \(Expecting value"):
            asyncio.run(upload_bytes(upload_scope("application/json"), body))
    # Text that begins with a quote, not JSON, stays the body it is (refused as no image, as before).
    assert asyncio.run(upload_bytes(upload_scope("text/plain"), b'"my notes", "more"')) == b'"my notes", "more"'


def test_a_files_bytes_as_json_numbers_or_a_list_of_pictures_are_told_what_json_takes():
    """JSON.stringify({image: Array.from(bytes)}) or of a Node Buffer or a Uint8Array, Python's json={"image":
    list(data)}: the file's bytes as numbers. A list was told it was "of pixels?", the others the generic hint; so
    was a list of pictures' base64."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    for image in (list(data), {"type": "Buffer", "data": list(data)}, {str(at): byte for at, byte in enumerate(data)}):
        with pytest.raises(RequestError) as refused:
            asyncio.run(upload_bytes(upload_scope("application/json"), json.dumps({"image": image}).encode()))
        assert (refused.value.status, refused.value.message) == (
            400,
            'the "image" field holds the PNG file\'s bytes as numbers, not its base64: a JSON body needs the image '
            'file in base64 as its "image" field: {"image": "iVBORw0KGgo..."} (JavaScript: btoa(binaryString); '
            'Node: buffer.toString("base64"); Python: base64.b64encode(data).decode())',
        )
    # A list of pictures' base64, as batch APIs take them: told to send one per request ("of pixels?" before).
    with pytest.raises(RequestError) as refused:
        body = json.dumps({"image": [base64.b64encode(data).decode()] * 2}).encode()
        asyncio.run(upload_bytes(upload_scope("application/json"), body))
    assert refused.value.message == (
        'the "image" field is a list of strings, not one picture: send one picture per request; a JSON body needs '
        'the image file in base64 as its "image" field: {"image": "iVBORw0KGgo..."}'
    )
    # Pixels, flat or in rows, are still told they are pixels.
    for pixels in ([0] * 784, [[0] * 28] * 28, [255, 216, 255, 1.5]):
        with pytest.raises(RequestError, match=r"a list \(of pixels\?\)"):
            asyncio.run(upload_bytes(upload_scope("application/json"), json.dumps({"image": pixels}).encode()))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_json_file_with_a_byte_order_mark_sent_as_a_form_is_read_as_json(encoding):
    """Windows PowerShell writes a byte order mark at the start of a file (Set-Content -Encoding UTF8: UTF-8's;
    Out-File: UTF-16's); sent with curl -d @body.json, under a form's Content-Type, it was "not a PNG, JPEG, ..."
    file."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    body = json.dumps({"image": base64.b64encode(data).decode()}).encode(encoding)
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        assert asyncio.run(upload_bytes(upload_scope(content_type), body)) == data


def test_a_form_whose_file_input_was_left_empty_is_told_to_choose_a_picture():
    """A browser sends an HTML form's file input where no file was chosen as a part of filename="" and no bytes: it
    was "not a readable image (empty file)". An empty file that has a name stays the empty file it is."""
    boundary = "----WebKitFormBoundaryx7Q"
    content_type = f"multipart/form-data; boundary={boundary}"
    for name in ("", "digit.png"):
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nmy four\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n\r\n--{boundary}--\r\n"
        ).encode()
        if name:
            assert asyncio.run(upload_bytes(upload_scope(content_type), body)) == b""  # refused as empty, as before
            continue
        with pytest.raises(RequestError) as refused:
            asyncio.run(upload_bytes(upload_scope(content_type), body))
        assert (refused.value.status, refused.value.message) == (
            400,
            "the form's file input came empty, as a browser sends it when no file was chosen: choose a picture",
        )


def test_a_form_of_two_files_is_told_to_send_one_per_request():
    """curl -F file=@a.png -F file=@b.png, a file input that takes several: "not a readable multipart upload (Too many
    files. Maximum number of files is 1)", as if the form were broken."""
    data = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    boundary = "mnistrnnboundary"
    part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    body = part + part + f"--{boundary}--\r\n".encode()
    with pytest.raises(RequestError) as refused:
        asyncio.run(upload_bytes(upload_scope(f"multipart/form-data; boundary={boundary}"), body))
    assert (refused.value.status, refused.value.message) == (
        400,
        "the form holds more than one file: send one picture per request, as the field 'file'",
    )


def test_json_is_read_whatever_its_content_type_and_base64_in_either_alphabet(server):
    """curl -d @body.json sends JSON as a form, some clients as text/plain; URL-safe base64 without padding is
    what Python's urlsafe_b64encode and JWT-style code give."""
    data = encode(render_digit(4, canvas=(121, 121), size=90, ink=0, paper=255), "PNG")
    raw = json.loads(request(server + "/predict", data, "image/png")[1])
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert "-" in urlsafe or "_" in urlsafe  # so the alphabet is tried (the file's bytes were chosen for it)
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/json"):
        status, body = request(server + "/predict", json.dumps({"image": urlsafe}).encode(), content_type)
        assert status == 200, body
        assert json.loads(body)["prepared"] == raw["prepared"]


def test_an_image_file_sent_under_jsons_type_is_read_as_the_file(server):
    """HTTPie sends a body piped or redirected to it under its default type, JSON (`http POST URL < digit.png`): it
    was "not valid JSON: the body is a PNG file, sent as Content-Type application/json". Every format, read by its
    signature, as its base64 or data: URL under that type is."""
    picture = render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255)
    for kind in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"):
        data = encode(picture, kind)
        for content_type in ("application/json", "application/json; charset=utf-8"):
            assert asyncio.run(upload_bytes(upload_scope(content_type), data)) == data, (kind, content_type)
    data = encode(picture, "PNG")
    raw = json.loads(request(server + "/predict", data, "image/png")[1])
    status, body = request(server + "/predict", data, "application/json")
    assert status == 200, body
    assert json.loads(body)["prepared"] == raw["prepared"]
    assert np.abs(np.array(json.loads(body)["probabilities"]) - raw["probabilities"]).max() < 1e-6


def test_a_failure_of_ours_is_a_json_500_and_a_logged_traceback(caplog):
    """A bug in the preparation (a 2x2 picture crashed it) gave Starlette's bare "Internal Server Error"."""
    from mnist_rnn.serve.http import ImageUploads

    def broken(image):
        raise ValueError("operands could not be broadcast together")

    sent = []

    async def receive():
        return {"type": "http.request", "body": encode(Image.new("L", (2, 2)), "PNG"), "more_body": False}

    async def send(message):
        sent.append(message)

    async def the_endpoint(scope, receive, send):
        raise AssertionError("a failed upload must not reach the endpoint")

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"image/png")]}
    asyncio.run(ImageUploads(the_endpoint, preparation=broken)(scope, receive, send))
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"]) == {"error": "the server failed to prepare this picture (its log says why)"}
    assert "operands could not be broadcast" in caplog.text


def test_a_drawing_is_not_kept_waiting_behind_a_photo_being_prepared():
    """One upload was prepared at a time in an HTTP process: a classroom's drawings (8 ms each) waited behind
    the phone photos (50 ms; a HEIC 1 s) of the same process. Small and large pictures have a lane each."""
    from mnist_rnn.preparation import prepare
    from mnist_rnn.serve.http import ImageUploads

    photo_started, photo_may_go = threading.Event(), threading.Event()

    def preparation(image):
        if image.width * image.height > 1_000_000:
            photo_started.set()
            assert photo_may_go.wait(60), "the photo was held to the end"
        return prepare(image)

    answered = []

    async def the_endpoint(scope, receive, send):
        answered.append(json.loads((await receive())["body"])["prepared"][:1])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    uploads = ImageUploads(the_endpoint, preparation=preparation)

    async def post(body: bytes) -> int:
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"image/png")]}
        await uploads(scope, receive, send)
        return sent[0]["status"]

    photo = encode(render_digit(3, canvas=(1200, 1000), size=800, at=(200, 100), ink=0, paper=255), "PNG")
    drawing = encode(render_digit(7, canvas=(320, 320), size=240, at=(40, 40)), "PNG")

    async def classroom() -> list[int]:
        photo_upload = asyncio.create_task(post(photo))
        await asyncio.to_thread(photo_started.wait, 60)
        # The photo is being prepared, and held there: the drawing is answered all the same, before it.
        drawn = await asyncio.wait_for(post(drawing), timeout=60)
        assert len(answered) == 1 and not photo_upload.done()
        photo_may_go.set()
        return [drawn, await photo_upload]

    assert asyncio.run(classroom()) == [200, 200] and len(answered) == 2


@pytest.mark.parametrize("left", [False, True])
def test_an_upload_whose_client_has_gone_is_not_prepared(left):
    """Clients that give up (an app's 2 s timeout, sent again at once) left their uploads queued: the server
    prepared each, and a fresh photo waited 42 s behind work nobody would read."""
    from mnist_rnn.serve.http import ImageUploads

    prepared, answered, sent = [], [], []

    def preparation(image):
        prepared.append(image.size)
        return prepare(image)

    async def the_endpoint(scope, receive, send):
        answered.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def receive():
        if not sent:
            sent.append("body")
            return {"type": "http.request", "body": encode(render_digit(4), "PNG"), "more_body": False}
        if left:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # still there: nothing more comes until it goes

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"image/png")]}
    asyncio.run(ImageUploads(the_endpoint, preparation=preparation)(scope, receive, send))
    assert (prepared, answered) == (([], []) if left else ([(28, 28)], ["/predict"]))
    assert len(sent) == (1 if left else 2)  # the body read; an answer only for a client still there


def test_a_body_that_stops_coming_is_a_408_that_closes_the_connection(monkeypatch):
    """A client that sent its headers and part of a body, then nothing, kept what it had sent in memory for as
    long as it kept its connection, and made a stop of serve wait 30 s for each HTTP process, then kill it."""
    from mnist_rnn.serve.http import ImageUploads

    monkeypatch.setattr(http, "BODY_TIMEOUT", 0.1)
    sent, reads = [], []

    async def receive():
        reads.append("read")
        if len(reads) == 1:
            return {"type": "http.request", "body": b"\x89PNG\r\n\x1a\n", "more_body": True}
        await asyncio.Event().wait()  # the rest never comes, and the client stays

    async def send(message):
        sent.append(message)

    async def the_endpoint(scope, receive, send):
        raise AssertionError("a stalled upload must not reach the endpoint")

    scope = {
        "type": "http", "method": "POST", "path": "/predict",
        "headers": [(b"content-type", b"image/png"), (b"content-length", b"100000")],
    }  # fmt: skip
    # wait_for: the old code waited for the body for good; 60 s only bounds the test
    asyncio.run(asyncio.wait_for(ImageUploads(the_endpoint)(scope, receive, send), timeout=60))
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {
        "error": "the upload stopped: no byte of its body came for 0.1 s, after 8 of the 100,000 its Content-Length "
        "announced; send it again"
    }


def test_a_connection_that_sends_nothing_is_closed(server):
    """uvicorn times out a connection only once it has had an answer: one that sent nothing was kept for good (an
    open file each; a few thousand left the next clients' connections reset). Now, after its keep-alive timeout."""
    with socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1]))) as silent:
        silent.settimeout(60)  # only bounds the test: the old server never closed it
        assert silent.recv(1) == b""  # closed by the server, with no answer
    assert get(server + "/health") == (200, b"ok")


@contextmanager
def uvicorn_with_serves_protocol() -> Iterator[int]:
    """The port of a uvicorn server run in this process (a thread), with serve's HTTP protocol in front of an app
    that answers ``ok`` (after 1.5 s for ``/slow``; ``/echo``: the body it read): http's timeouts can be shortened
    with monkeypatch."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            await asyncio.sleep(1.5)
        if scope["path"] == "/echo":  # the body it read
            body, more = b"", True
            while more:
                message = await receive()
                body, more = body + message.get("body", b""), message.get("more_body", False)
            headers = [(b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=http.ClosesSilentConnections, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 60, "uvicorn to start")
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def trickle_a_head(client: socket.socket) -> bytes:
    """Send a request head a byte every 0.1 s, never ending it, until the server answers or closes; what it
    answered, read to the connection's end. 30 s only bounds the test: the old server never closed it."""
    head = itertools.chain(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickled: ", itertools.repeat(ord("a")))
    deadline = time.monotonic() + 30
    while not select.select([client], [], [], 0.1)[0]:  # nothing to read yet: the connection is open
        if time.monotonic() > deadline:
            pytest.fail("a client trickling its request head kept its connection")
        client.send(bytes([next(head)]))
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    return answer


def test_an_offer_to_switch_to_http2_is_ignored_and_the_body_read():
    """Java's HttpClient, Spring's RestClient, Ktor and curl --http2 offer HTTP/2 (Upgrade: h2c) on requests to an
    http:// address: uvicorn's parser read none of the body, so an upload was "an empty form" or "empty file", or
    got no answer. The offer is ignored, the body read, and the connection kept for the next request."""
    body = bytes(range(256)) * 40 + b"\r\n\r\n"
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5000], body[5000:])) + b"0\r\n\r\n"
    with uvicorn_with_serves_protocol() as port, socket.create_connection(("127.0.0.1", port)) as client:
        for framing, sent in ((f"Content-Length: {len(body)}", body), ("Transfer-Encoding: chunked", chunked)):
            head = (
                "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                f"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\nUpgrade: h2c\r\n{framing}\r\n\r\n"
            )
            for parts in ([head.encode() + sent], [head.encode(), sent]):  # in one write, or the body after
                for part in parts:
                    client.sendall(part)
                    time.sleep(0.05)
                answer = b""
                while not answer.endswith(body):
                    chunk = client.recv(65536)
                    assert chunk, answer
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
                assert answer.split(b"\r\n\r\n", 1)[1] == body


def test_an_offer_to_switch_to_http2_cut_across_reads_or_last_in_its_head_is_ignored_too():
    """A head in several TCP segments (long cookies or a token make one longer than a segment), cut inside the
    offer's line: the offer was taken out only of a head that came whole, so uvicorn read none of the body ("empty
    file"). Nor was it taken out as the head's last header, even whole. Each read here is a TCP segment of its own."""
    body = bytes(range(256)) * 8
    with uvicorn_with_serves_protocol() as port:
        for last in (False, True):
            lines = ["POST /echo HTTP/1.1", "Host: 127.0.0.1", "Connection: Upgrade, HTTP2-Settings"]
            lines += ["HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA", f"Content-Length: {len(body)}"]
            lines.insert(len(lines) if last else 3, "Upgrade: h2c")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode()
            at = head.index(b"\r\nUpgrade: h2c\r\n")
            for cut in (len(head), *range(at, at + 17)):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    client.sendall(head[:cut])
                    time.sleep(0.05)
                    client.sendall(head[cut:] + body)
                    answer = b""
                    while b"\r\n\r\n" not in answer or not answer.endswith((body, b"\r\n\r\n")):
                        chunk = client.recv(65536)
                        assert chunk, answer
                        answer += chunk
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), (last, cut - at, answer[:200])
                assert answer.split(b"\r\n\r\n", 1)[1] == body, (last, cut - at)


def test_a_request_head_trickled_a_byte_at_a_time_gets_a_408_and_its_connection_closed(monkeypatch):
    """Each byte restarted uvicorn's timer: a client that sent its headers a byte every few seconds (a slowloris)
    kept its connection, an open file of the HTTP process, for good. Now a head must come whole within
    HEAD_TIMEOUT of the connection's opening, or of the answer before it; a slow answer is not cut short."""
    monkeypatch.setattr(http, "HEAD_TIMEOUT", 1)
    expected = {"error": "the request's headers did not come whole within 1 s; send it again"}
    with uvicorn_with_serves_protocol() as port:
        with socket.create_connection(("127.0.0.1", port)) as client:
            answer = trickle_a_head(client)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert b"\r\nconnection: close\r\n" in answer and json.loads(answer.split(b"\r\n\r\n", 1)[1]) == expected
        with socket.create_connection(("127.0.0.1", port)) as client:  # kept alive after an answer of 1.5 s
            client.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                answer += client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
            answer = trickle_a_head(client)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer


def test_the_size_limits_are_the_pictures_whatever_it_came_in():
    """A 16 MB picture is taken as a file and in base64 JSON (a third larger); over 20 MB, neither."""
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"application/json")]}
    picture = b"\x89PNG" + bytes(16 * 2**20)
    document = json.dumps({"image": base64.b64encode(picture).decode()}).encode()

    async def one(body: bytes):
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        return await http.upload_bytes(scope, await http.read_body(scope, receive))

    assert len(document) > 20 * 2**20 and asyncio.run(one(document)) == picture
    with pytest.raises(http.RequestError, match="upload of more than 28 MB: the limit is 20 MB for a picture"):
        asyncio.run(one(b"{" + bytes(29 * 2**20)))
    # a file sent as it is was told of base64's allowance too, which is no concern of its sender
    scope["headers"] = [(b"content-type", b"image/png")]
    with pytest.raises(http.RequestError, match=r"^upload of more than 20 MB: the limit is 20 MB$"):
        asyncio.run(one(b"\x89PNG" + bytes(29 * 2**20)))
    # base64 in MIME's lines of 76 with CRLFs, escaped in the JSON string: a 19.5 MB picture is a 27.4 MB body
    lines = base64.encodebytes(b"\x89PNG" + bytes(19 * 2**20 + 2**19)).replace(b"\n", b"\r\n")
    assert len(asyncio.run(one(b'{"image": "' + lines.replace(b"\r\n", b"\\r\\n") + b'"}'))) > 19 * 2**20


def asgi_call(
    asgi, method: str, headers: dict[str, str], body: bytes = b"", path: str = "/predict"
) -> tuple[int, dict[str, str]]:
    """One request to an ASGI app in-process: its status and headers (what needs no inference worker)."""
    return asgi_answer(asgi, method, headers, body, path)[:2]


def asgi_answer(
    asgi, method: str, headers: dict[str, str], body: bytes = b"", path: str = "/predict"
) -> tuple[int, dict[str, str], bytes]:
    """:func:`asgi_call`'s status and headers, and the answer's body."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "scheme": "http", "root_path": "",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "http_version": "1.1",
    }  # fmt: skip
    asyncio.run(asgi(scope, receive, send))
    answer = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}, answer


def test_allow_origin_lets_another_sites_page_call_the_api(checkpoint, capsys):
    """A front-end on another origin (a dev server on :3000) could not call /predict: the browser's preflight
    got a 405 and no Access-Control-Allow-Origin. --allow_origin ORIGIN allows it; without it, nothing is, and
    serve's log says what to start it with (the browser tells the page's script nothing): it said nothing, and the
    preflight's answer was a bare 405."""
    asking = {"origin": "http://localhost:3000", "access-control-request-method": "POST"}
    warning = (
        "mnist-rnn: warning: a page of http://localhost:3000 calls /predict from a browser, which keeps the answers "
        "from its script: start serve with --allow_origin http://localhost:3000 to let it (CORS)\n"
    )
    for origins, allowed in ((["http://localhost:3000"], "http://localhost:3000"), (None, None)):
        asgi = app.build_server(checkpoint, allow_origins=origins).app
        status, headers = asgi_call(asgi, "OPTIONS", asking)
        assert (status, headers.get("access-control-allow-origin")) == ((200, allowed) if origins else (403, None))
        # The uploads' own answers (here an empty body: 400) carry the header too, so the page can read them.
        sent = {"origin": "http://localhost:3000", "content-type": "image/png", "sec-fetch-site": "same-site"}
        status, headers = asgi_call(asgi, "POST", sent)
        assert (status, headers.get("access-control-allow-origin")) == (400, allowed)
        assert capsys.readouterr().err == ("" if origins else warning)  # once per origin
    # The server's own page (same-origin), and an Origin unlike the Host behind a reverse proxy: nothing said. Nor
    # for another site's HTML form (<form action=.../predict method=post>) sent: the browser shows its answer.
    for site in ("same-origin", "none"):
        asgi_call(asgi, "POST", {"origin": "https://digits.example.org", "sec-fetch-site": site})
    form = {"origin": "https://digits.example.org", "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    asgi_call(asgi, "POST", form)
    assert capsys.readouterr().err == ""
    status, headers = asgi_call(asgi, "OPTIONS", {**asking, "origin": "http://localhost:5173"})
    assert (status, capsys.readouterr().err) == (403, warning.replace("3000", "5173"))
    assert app.parse_args(["--ckpt_path", str(checkpoint), "--allow_origin", "*"]).allow_origin == ["*"]
    # As copied from the address bar: the Origin a browser sends has no "/" after it, and is in lower case. They
    # matched no page, and the browser blocked every call; so did an origin without its scheme, or with a path.
    typed = ["--allow_origin", "http://localhost:3000/", "--allow_origin", "https://Digits.Example.org"]
    assert app.parse_args(["--ckpt_path", str(checkpoint), *typed]).allow_origin == [
        "http://localhost:3000",
        "https://digits.example.org",
    ]
    # With the scheme's own port, which a browser leaves out of its Origin header: it matched no page either.
    typed = ["--allow_origin", "https://digits.example.org:443/", "--allow_origin", "HTTP://[::1]:80"]
    typed += ["--allow_origin", "http://localhost:8080", "--allow_origin", "https://digits.example.org:80"]
    assert app.parse_args(["--ckpt_path", str(checkpoint), *typed]).allow_origin == [
        "https://digits.example.org",
        "http://[::1]",
        "http://localhost:8080",
        "https://digits.example.org:80",
    ]
    for origin in ("localhost:3000", "http://localhost:3000/app"):
        with pytest.raises(UserError) as refused:
            app.parse_args(["--ckpt_path", str(checkpoint), "--allow_origin", origin])
        assert str(refused.value).startswith(
            f"--allow_origin {origin}: not an origin, which is scheme://host[:port] as the browser's address bar "
            "shows it, without a path (http://localhost:3000), or *"
        )


def test_the_calls_of_a_listed_origin_may_carry_credentials_and_none_with_a_star(checkpoint):
    """A front-end whose calls carry credentials (fetch's credentials: "include", axios' withCredentials) had every
    answer kept from its script: Chromium's "The value of the 'Access-Control-Allow-Credentials' header in the
    response is '' which must be 'true'", on the preflight, and serve saw nothing wrong. A listed origin's preflight
    and answers allow them; with * they are not allowed (any site's page could call with its user's cookies)."""
    asking = {
        "origin": "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    sent = {"origin": "http://localhost:3000", "content-type": "image/png", "sec-fetch-site": "same-site"}
    for origins, allowed, credentials in (
        (["http://localhost:3000"], "http://localhost:3000", "true"),
        (["*"], "*", None),
        (["http://localhost:3000", "*"], "*", None),
    ):
        asgi = app.build_server(checkpoint, allow_origins=origins).app
        for method, headers in (("OPTIONS", asking), ("POST", sent)):
            answer = asgi_call(asgi, method, headers)[1]
            assert (answer.get("access-control-allow-origin"), answer.get("access-control-allow-credentials")) == (
                allowed,
                credentials,
            ), (origins, method)


def test_an_onnx_file_alone_has_its_metadata_read_once(exported_onnx, started, monkeypatch):
    """``serve --onnx FILE`` read the file's metadata (the whole file, parsed) to check it, then again to build the
    server."""
    from mnist_rnn import export

    read = []
    original = export.read_metadata
    monkeypatch.setattr(export, "read_metadata", lambda data, format: read.append(format) or original(data, format))
    main(["serve", "--onnx", str(exported_onnx)])
    assert len(started) == 1 and read == ["onnx"]


def test_a_page_of_an_origin_allow_origin_does_not_list_is_told_how_to_add_it(checkpoint, capsys):
    """With --allow_origin set, a page of another origin got Starlette's plain-text 400 "Disallowed CORS origin" on
    its preflight, and serve's log said nothing: it gets the 403 naming the origins allowed and the option to add,
    and one line in the log, as without --allow_origin. The allowed origin's preflight is still CORS's, and it
    allows Chrome's Private Network Access (a site's page calling a server on this machine)."""
    allowed = ["http://localhost:3000", "https://digits.example.org"]
    asgi = app.build_server(checkpoint, allow_origins=allowed).app
    asking = {"origin": "http://localhost:5173", "access-control-request-method": "POST"}
    add = (
        "serve allows only --allow_origin http://localhost:3000 --allow_origin https://digits.example.org: add "
        "--allow_origin http://localhost:5173 to let it (CORS)"
    )
    status, headers, answer = asgi_answer(asgi, "OPTIONS", asking)
    assert (status, json.loads(answer), "access-control-allow-origin" in headers) == (
        403,
        {"error": f"a page of http://localhost:5173 may not call this API from a browser: {add}"},
        False,
    )
    status, _ = asgi_call(asgi, "OPTIONS", asking)  # asked again: told once
    # Its upload itself (the browser sends it only after a preflight allows it, or as a "simple" request)
    status_post, headers = asgi_call(asgi, "POST", {"origin": "http://localhost:5173", "sec-fetch-site": "cross-site"})
    assert (status, status_post, "access-control-allow-origin" in headers) == (403, 400, False)
    assert capsys.readouterr().err == (
        "mnist-rnn: warning: a page of http://localhost:5173 calls /predict from a browser, which keeps the answers "
        f"from its script: {add}\n"
    )
    # The preflight of another path than /predict (a page's fetch of /info with a header of its own) is answered
    # so too, with --allow_origin or without: it got Starlette's plain-text 400 "Disallowed CORS origin", or a 405.
    for servers_origins in (allowed, None):
        other = app.build_server(checkpoint, allow_origins=servers_origins).app
        status, headers, answer = asgi_answer(other, "OPTIONS", asking, path="/info")
        allow = add if servers_origins else "start serve with --allow_origin http://localhost:5173 to let it (CORS)"
        assert (status, json.loads(answer), "access-control-allow-origin" in headers) == (
            403,
            {"error": f"a page of http://localhost:5173 may not call this API from a browser: {allow}"},
            False,
        )
        assert capsys.readouterr().err == (
            "mnist-rnn: warning: a page of http://localhost:5173 calls /info from a browser, which keeps the answers "
            f"from its script: {allow}\n"
        )
    assert asgi_call(asgi, "OPTIONS", {**asking, "origin": "https://digits.example.org"}, path="/info")[0] == 200
    assert capsys.readouterr().err == ""
    # An allowed origin's preflight is CORS's, Chrome's for a server on this machine (Private Network Access) too:
    # it was "Disallowed CORS private-network" (400).
    for private in ({}, {"access-control-request-private-network": "true"}):
        status, headers = asgi_call(asgi, "OPTIONS", {**asking, "origin": "https://digits.example.org", **private})
        assert (status, headers["access-control-allow-origin"], capsys.readouterr().err) == (
            200,
            "https://digits.example.org",
            "",
        )
        assert headers.get("access-control-allow-private-network") == ("true" if private else None)


def test_a_page_of_another_origin_is_told_of_once_per_server_not_per_http_process(checkpoint, capsys):
    """LitServe forks its HTTP processes (two by default) after the server is built, each with its own copy of the
    app and so its own middleware: serve's log told of a page of another origin once in each, twice per server."""
    asgi = app.build_server(checkpoint).app
    asking = {"origin": "http://localhost:3000", "access-control-request-method": "POST"}
    first, second = copy.copy(asgi), copy.copy(asgi)  # as LitServe's _start_server copies it for each process
    child = multiprocessing.get_context("fork").Process(target=told_in_a_forked_process, args=(second, asking))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0  # it told the page's origin, first
    assert asgi_call(first, "OPTIONS", asking)[0] == 403
    assert asgi_call(second, "OPTIONS", asking)[0] == 403
    assert capsys.readouterr().err == ""  # nor in this process, nor again in its copy
    asgi_call(first, "OPTIONS", {**asking, "origin": "http://localhost:5173"})  # another origin is told of
    assert "http://localhost:5173" in capsys.readouterr().err


def told_in_a_forked_process(asgi, asking: dict[str, str]) -> None:
    """In an HTTP process forked from the test's: exit 0 when the preflight is told of in the log, 1 when not."""
    told = io.StringIO()
    with contextlib.redirect_stderr(told):
        asgi_call(asgi, "OPTIONS", asking)
    sys.exit(0 if "calls /predict from a browser" in told.getvalue() else 1)


def test_a_multipart_file_holding_the_boundary_without_a_crlf_before_it_is_kept_whole():
    boundary = "mnistrnnboundary"
    half = bytes(range(256)) * 4 + bytes(8)  # 1,032 bytes, then the boundary with no CRLF before it: legal
    data = half + b"--" + boundary.encode() + bytes(1032 - 2 - len(boundary))
    assert len(data) == 2064
    body, content_type = multipart("file", data, boundary)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", content_type.encode())],
    }
    assert asyncio.run(upload_bytes(scope, body)) == data


def test_a_bad_form_is_refused_with_its_reason_without_a_line_in_the_servers_log(caplog):
    """python-multipart logged "Expected boundary character 45, got 103 at index 2" for each bad form, and the
    client was told only Starlette's "Invalid multipart data.": now the client gets the reason, the log nothing."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", b"multipart/form-data; boundary=b")],
    }
    with pytest.raises(
        RequestError,
        # The second reason: python-multipart before 0.0.13.
        match=r"^not a readable multipart upload \(Invalid multipart data: (Expected boundary character 45, got "
        r"103|Did not find boundary character 103) at index 2; the body does not begin with --b, the boundary its "
        r"Content-Type header names: send the image as the form's field 'file' \(curl -F file=@picture.png\), or as "
        r"the body with its own Content-Type\)$",
    ):
        asyncio.run(upload_bytes(scope, b"garbage, not a form"))
    # A form built by hand with "\n" line breaks (a script's string, an ESP32's sketch): the parser's words alone
    # ("Did not find CR at end of boundary (3)") did not say what to change.
    with pytest.raises(RequestError) as refused:
        asyncio.run(upload_bytes(scope, b'--b\nContent-Disposition: form-data; name="file"\n\nabc\n--b--\n'))
    assert refused.value.message == (
        "not a readable multipart upload (Invalid multipart data: Did not find CR at end of boundary (3); its lines "
        "end in \\n alone, and a multipart form's line breaks are \\r\\n (CRLF): after each boundary, each part's "
        "header and the blank line after them, and before the next boundary)"
    )
    assert [record.getMessage() for record in caplog.records if record.name.startswith("python_multipart")] == []


def test_a_form_whose_closing_boundary_follows_no_line_break_is_told_so():
    """A form built by hand often ends its file's bytes with the closing boundary right after them, no CRLF between:
    the parser takes the boundary for more of the file, which it drops unfinished, and the upload was "the form is
    empty, no file in it" (after a text field, "multipart upload without a file"), though the file was sent."""
    png = encode(render_digit(4, canvas=(60, 60), size=40, ink=0, paper=255), "PNG")
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\nContent-Type: image/png\r\n\r\n'
    note = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nmy four\r\n'
    told = (
        "the form's closing boundary --b-- does not follow a line break: a part's bytes end with \\r\\n (CRLF) before "
        "the next boundary, so its last part, the file, was left unfinished and dropped"
    )
    scope = upload_scope("multipart/form-data; boundary=b")
    for body in (part + png + b"--b--\r\n", note + part + png + b"--b--"):
        with pytest.raises(RequestError) as refused:
            asyncio.run(upload_bytes(scope, body))
        assert (refused.value.status, refused.value.message) == (400, told)
    assert asyncio.run(upload_bytes(scope, part + png + b"\r\n--b--\r\n")) == png  # with it: read
    with pytest.raises(RequestError, match="^the form is empty, no file in it"):  # a closing boundary alone
        asyncio.run(upload_bytes(scope, b"--b--\r\n"))


def test_a_png_holding_the_boundary_is_read_whole_over_http(server):
    image = render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255)
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "x--mnistrnnboundary")  # in the file, with no CRLF before it
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=text)
    data = buffer.getvalue()
    assert b"--mnistrnnboundary" in data
    status, body = request(server + "/predict", *multipart("file", data))
    assert status == 200, body
    assert json.loads(body)["prepared"] == json.loads(request(server + "/predict", data, "image/png")[1])["prepared"]


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it holds ``width`` x ``height`` 8-bit grey pixels, and holds none."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def bad_requests() -> list[tuple[str, dict, int, str]]:
    png = encode(render_digit(2, canvas=(100, 100), size=70), "PNG")
    jpeg = encode(render_digit(7, canvas=(300, 300), size=200, ink=0, paper=255), "JPEG")  # what phones send
    form_type = multipart("file", png)[1]
    form = b'--mnistrnnboundary\r\nContent-Disposition: form-data; name="note"\r\n\r\na note\r\n'  # a text field,
    form += b"--mnistrnnboundary--\r\n"  # and no file
    huge = encode(Image.new("1", (7100, 7100)), "PNG")  # 50.4 million pixels, in a file of a few kB
    return [
        ("not an image", {"data": b"just some text", "content_type": "text/plain"}, 415, "not a readable image"),
        ("empty body", {"data": b"", "content_type": "image/png"}, 400, "empty file"),
        ("empty JSON body", {"data": b"", "content_type": "application/json"}, 400, "the body is empty: a JSON body"),
        # JSON sent as curl -d sends it (a form's type): its image was told to use curl --data-binary, though
        # base64 survives curl -d whole
        ("JSON as a form, its image empty", {"data": b'{"image": ""}'}, 400, "not a readable image (empty file)"),
        (
            "a data: URL body not in base64",
            {"data": b"data:image/png;base64,@@", "content_type": "text/plain"},
            400,
            "the data: URL is not base64",
        ),
        ("truncated file", {"data": png[: len(png) // 2], "content_type": "image/png"}, 400, "truncated"),
        ("over 20 MB", {"data": b"\x89PNG" + bytes(21 * 2**20), "content_type": "image/png"}, 413, "20 MB"),
        # a file over the limit for a body: told of base64's allowance in JSON too ("a JSON body may reach 28 MB")
        ("over 28 MB", {"data": bytes(30 * 2**20), "content_type": "image/png"}, 413, "20 MB: the limit is 20 MB"),
        # curl --data-urlencode image@photo.jpg of a 10 MB photo: percent-encoded, about 28 MB; "more than 20 MB" it
        # was not
        (
            "over 28 MB as a form",
            {"data": b"image=" + b"%00" * (10 * 2**20), "content_type": "application/x-www-form-urlencoded"},
            413,
            "upload of more than 28 MB: the limit is 20 MB for a picture (percent-encoded in a form, as curl "
            "--data-urlencode sends it, a picture takes up to 3 times its size: send the file as it is, curl "
            "--data-binary @picture.png)",
        ),
        # minified, on one line: it was told to stop sending it with curl -d
        (
            "a one-line SVG",
            {
                "data": b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M4 4L24 24"/></svg>',
                "content_type": "image/svg+xml",
            },
            415,
            "not a readable image (an SVG drawing, not pixels: export it as PNG): send one PNG, JPEG,",
        ),
        ("over 50 million pixels", {"data": huge, "content_type": "image/png"}, 413, "7100 x 7100 pixels"),
        # Pillow refuses over 179 million pixels as it reads the header, and its message named its limit.
        (
            "over Pillow's own limit",
            {"data": png_header(20000, 20000), "content_type": "image/png"},
            413,
            "image of 400,000,000 pixels: the limit is 50,000,000 pixels; scale it to 35% of its width and height",
        ),
        # The limit is the picture's: a 20 MB one in base64 is 27 MB of JSON.
        (
            "over 20 MB in base64",
            {"data": json.dumps({"image": base64.b64encode(bytes(20 * 2**20 + 10_000)).decode()}).encode()},
            413,
            "picture (in base64) of more than 20 MB: the limit is 20 MB",
        ),
        (
            "blank image",
            {"data": encode(Image.new("L", (50, 50), 255), "PNG"), "content_type": "image/png"},
            422,
            "no digit found: the picture is blank",
        ),  # fmt: skip
        ("PCX", {"data": encode(Image.new("L", (28, 28)), "PCX"), "content_type": "image/x-pcx"}, 415, "PNG"),
        (
            "multipart without a file",
            {"data": form, "content_type": form_type},
            400,
            "multipart upload without a file (send the image as a file in the field 'file')",
        ),
        # fetch with an empty FormData, a form with nothing in it: it was told it was "cut short"
        *(
            (
                what,
                {"data": data, "content_type": form_type},
                400,
                "the form is empty, no file in it: send the picture as its field 'file' (curl -F file=@picture.png "
                "URL)",
            )
            for what, data in (
                ("multipart, empty", b""),
                ("multipart, its closing boundary alone", b"--mnistrnnboundary--\r\n"),
            )
        ),
        (  # it said "without a field named 'file'", which the form had
            "multipart cut short",
            {"data": multipart("file", png)[0][:-40], "content_type": form_type},
            400,
            "the multipart upload was cut short: it ends before its closing boundary",
        ),
        (
            "multipart, 'file' without a file name (requests' files={'file': (None, data)})",
            {
                "data": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--b--\r\n',
                "content_type": "multipart/form-data; boundary=b",
            },
            400,
            "the field 'file' came without a file name, so it was read as text, not a file: send it as a file with "
            "a name (curl -F file=@picture.png; requests or httpx: files={'file': ('picture.png', data)})",
        ),
        (  # it said the name was missing, which the client had sent, encoded
            "multipart, 'file' named only as filename*=",
            {
                "data": b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E4%B8%83.png\r\n"
                b"Content-Type: image/png\r\n\r\nabc\r\n--b--\r\n",
                "content_type": "multipart/form-data; boundary=b",
            },
            400,
            "the field 'file' named its file only as filename*= (an encoded name), which this server does not read",
        ),
        ("a PDF", {"data": b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", "content_type": "application/pdf"}, 415, "a PDF"),
        (
            "multipart, no boundary",
            {"data": b"--b\r\n", "content_type": "multipart/form-data"},
            400,
            "not a readable multipart upload (Missing boundary in multipart: the Content-Type header "
            "multipart/form-data "
            "names no boundary; leave that header to the client (curl -F, requests' files=), which adds the boundary",
        ),
        (  # it said what JSON takes, not what this one held
            "JSON without 'image'",
            {"data": b'{"file": "iVBO", "name": "7.png"}', "content_type": "application/json"},
            400,
            'a JSON body needs the image file in base64 as its "image" field: {"image": "iVBORw0KGgo..."} (this '
            'one\'s fields: "file", "name")',
        ),
        (
            "JSON, pixels as lists",
            {"data": json.dumps({"image": [[0] * 28] * 28}).encode(), "content_type": "application/json"},
            400,
            'the "image" field is a list (of pixels?), not a picture file: send the file, which the server prepares '
            "as predict does; a JSON body needs",
        ),
        ("JSON, not base64", {"data": b'{"image": "a$b"}', "content_type": "application/json"}, 400, "not base64"),
        # a file's path or address where its base64 belongs: "not base64 (Only base64 data is allowed)"
        *(
            (
                what,
                {"data": data, "content_type": kind},
                400,
                f"{field} is not base64 but names a file or an address, which this server does not open or fetch: "
                "put the file's base64 in it",
            )
            for what, data, kind, field in [
                ("JSON, a path", rb'{"image": "C:\\Users\\me\\my digit.PNG"}', "application/json", "the 'image' field"),
                ("JSON, a URL", b'{"image": "https://example.com/7"}', "application/json", "the 'image' field"),
                (
                    "a form, a path",
                    b"image=digits%2Fseven.jpg",
                    "application/x-www-form-urlencoded",
                    "the form field 'image'",
                ),
            ]
        ),
        ("not JSON", {"data": b"image=iVBO", "content_type": "application/json"}, 400, "not valid JSON (Expecting"),
        # curl -d @digit.png -H "Content-Type: application/json": a PNG "not valid JSON ('utf-8' codec can't
        # decode byte 0x89 ...)", a JPEG told to send it with its own Content-Type (curl -d would still drop its
        # line breaks). An image file sent as it is under JSON's type, as HTTPie sends it, is read
        # (test_an_image_file_sent_under_jsons_type_is_read_as_the_file).
        *(
            (
                f"a {kind} through curl -d as JSON",
                {"data": picture.replace(b"\r", b"").replace(b"\n", b""), "content_type": "application/json"},
                415,
                http.FORM_HINT,
            )
            for kind, picture in (("PNG", png), ("JPEG", jpeg))
        ),
        # These three gave Starlette's bare 500 (RecursionError, ValueError from base64 and from int()).
        ("JSON nested deep", {"data": b"[" * 1500 + b"]" * 1500, "content_type": "application/json"}, 400, "JSON"),
        (
            "base64 not ASCII",
            {"data": '{"image": "\u00e9abc"}'.encode(), "content_type": "application/json"},
            400,
            "not base64",
        ),  # fmt: skip
        (
            "JSON number of 5,000 digits",
            {"data": b'{"image": ' + b"1" * 5000 + b"}", "content_type": "application/json"},
            400,
            "not valid JSON",
        ),  # fmt: skip
        # curl -d @digit.png: a form field, its line breaks dropped; the answer says how to send a file.
        (
            "a form field",
            {"data": png.replace(b"\r", b"").replace(b"\n", b""), "content_type": "application/x-www-form-urlencoded"},
            415,
            "curl --data-binary @picture.png",
        ),  # fmt: skip
        (
            "a JPEG as a form field",
            {"data": jpeg.replace(b"\r", b"").replace(b"\n", b""), "content_type": "application/x-www-form-urlencoded"},
            415,
            "curl --data-binary @picture.png",
        ),  # fmt: skip
        # ... and so with the docs' own -H "Content-Type: image/png" (it said "not a readable image" alone).
        (
            "a PNG through curl -d with its image type",
            {"data": png.replace(b"\r", b"").replace(b"\n", b""), "content_type": "image/png"},
            415,
            "as curl -d leaves a file (it drops them); send the file with curl --data-binary @picture.png",
        ),  # fmt: skip
        # A file read as text, then sent as that text: it was "not a PNG, JPEG, ...", as if it were none.
        *(
            (
                what,
                {"data": data, "content_type": kind},
                415,
                "not a readable image; the file was read as text before it was sent, which changes its bytes over "
                "127: send its bytes as they are (curl --data-binary @picture.png; PowerShell: Invoke-RestMethod "
                '-InFile picture.png; Python: open(path, "rb"); JavaScript: the File or Blob itself)',
            )
            for what, data, kind in [
                (  # PowerShell's -Body (Get-Content digit.png -Raw), whose POST's type is a form's
                    "a PNG read as text",
                    png.decode("utf-8", errors="replace").encode(),
                    "application/x-www-form-urlencoded",
                ),
                ("a JPEG read as text", jpeg.decode("utf-8", errors="replace").encode(), "image/jpeg"),
                (  # FileReader.readAsBinaryString, sent by fetch as a string
                    "a JPEG as a binary string",
                    jpeg.decode("latin-1").encode(),
                    "text/plain;charset=UTF-8",
                ),
            ]
        ),
        # curl --data-binary @notes.png without -H: the same type, the file as it is (line breaks kept).
        (
            "a text file sent as it is, as a form's type",
            {"data": b"my notes\nline two\n", "content_type": "application/x-www-form-urlencoded"},
            415,
            "not a readable image (not a PNG, JPEG",
        ),
        # Text, HTML, or base64 (which curl -d leaves whole) on one line: no image however sent, and they were told
        # that curl -d had dropped their line breaks.
        *(
            (what, {"data": data, "content_type": kind}, 415, "not a readable image (not a PNG, JPEG")
            for what, data, kind in [
                ("HTML on one line, saved as .png", b"<!DOCTYPE html><html><body>7</body></html>", "image/png"),
                ("text on one line, as curl -d sends it", b"my digits: 7, 3", "application/x-www-form-urlencoded"),
                (
                    "base64 of text, as curl -d sends it",
                    base64.b64encode(b"not a picture, only text" * 4),
                    "application/x-www-form-urlencoded",
                ),
                ("a data: URL of text", b"data:image/png;base64," + base64.b64encode(b"text, no picture"), "image/png"),
            ]
        ),
        # Content-Encoding: a gzip-compressed body is read (see the test below); other encodings were read as
        # no encoding (a br-labelled PNG was answered), bad gzip as no image.
        (
            "Content-Encoding br",
            {"data": png, "content_type": "image/png", "headers": {"Content-Encoding": "br"}},
            415,
            "a body of Content-Encoding br, which this server does not decode: send it uncompressed, or "
            "gzip-compressed (Content-Encoding: gzip)",
        ),
        (
            "Content-Encoding gzip, not gzip",
            {"data": png, "content_type": "image/png", "headers": {"Content-Encoding": "gzip"}},
            400,
            "a body of Content-Encoding gzip that is not gzip data (Error -3",
        ),
        (
            "Content-Encoding gzip, cut short",
            {"data": gzip.compress(png)[:-30], "content_type": "image/png", "headers": {"Content-Encoding": "gzip"}},
            400,
            "a body of Content-Encoding gzip whose gzip data is cut short",
        ),
        (  # a few kilobytes that would decompress to 29 MB: decompressed no further than the limit
            "Content-Encoding gzip, over 28 MB decompressed",
            {
                "data": gzip.compress(bytes(29 * 2**20), compresslevel=1),
                "content_type": "image/png",
                "headers": {"Content-Encoding": "gzip"},
            },
            413,
            "upload of more than 20 MB: the limit is 20 MB",
        ),
        # the address typed in a browser's bar
        (
            "wrong method",
            {"method": "GET"},
            405,
            "GET is not allowed on /predict (allowed: POST): POST a picture to it (curl -F file=@picture.png http://",
        ),
        (  # curl -T picture.png
            "PUT",
            {"method": "PUT", "data": png},
            405,
            "PUT is not allowed on /predict (allowed: POST): send the picture with POST (curl --data-binary "
            "@picture.png, not curl -T)",
        ),
        ("wrong path", {"path": "/classify", "data": png}, 404, "no such path: /classify"),
        # FastAPI's generated page described /predict as taking no body: docs/serve.md is the API's description.
        ("FastAPI's /docs", {"path": "/docs", "method": "GET"}, 404, "no such path: /docs"),
    ]


# python-multipart before 0.0.30 decodes a part's filename*= (RFC 2231) into its file name: such a part is a file
READS_ENCODED_NAMES = tuple(int(part) for part in version("python-multipart").split(".")[:3]) < (0, 0, 30)


@pytest.mark.parametrize("what, kwargs, status, message", bad_requests(), ids=[case[0] for case in bad_requests()])
def test_a_bad_request_gets_a_4xx_naming_the_problem_and_the_server_carries_on(server, what, kwargs, status, message):
    if what.endswith("filename*=") and READS_ENCODED_NAMES:  # a file then, of bytes that are no picture
        status, message = 415, "not a readable image"
    kwargs = dict(kwargs)
    url = server + kwargs.pop("path", "/predict")
    got, body = request(url, **kwargs)
    assert got == status, body
    assert message in json.loads(body)["error"]
    assert get(server + "/health") == (200, b"ok")
    good = encode(render_digit(1, canvas=(80, 80), size=60), "PNG")
    assert request(server + "/predict", good, "image/png")[0] == 200


def test_a_gzip_compressed_body_is_read_as_the_body(server):
    """Some clients and proxies compress what they send (Content-Encoding: gzip): a compressed picture was "not a
    PNG, JPEG, ..." file (415), compressed JSON "not valid JSON ('utf-8' codec can't decode byte 0x8b ...)"."""
    png = encode(render_digit(7, canvas=(320, 320), size=240, at=(60, 20), ink=0, paper=255), "PNG")
    document = json.dumps({"image": base64.b64encode(png).decode()}).encode()
    expected = json.loads(request(server + "/predict", png, "image/png")[1])
    two_members = gzip.compress(png[:100]) + gzip.compress(png[100:])  # as cat a.gz b.gz makes: the two joined
    for compressed, kind in [
        (gzip.compress(png), "image/png"),
        (gzip.compress(document), "application/json"),
        (two_members, "image/png"),
    ]:
        status, answer = request(server + "/predict", compressed, kind, headers={"Content-Encoding": "gzip"})
        assert status == 200, answer
        assert json.loads(answer)["probabilities"] == expected["probabilities"]


def test_eight_clients_at_once(server):
    images = [encode(render_digit(k, canvas=(90, 90), size=70, ink=0, paper=255), "PNG") for k in range(7)]
    images.append(encode(render_digit(38, canvas=(180, 90), size=70, ink=0, paper=255), "PNG"))  # two digits
    alone = [json.loads(request(server + "/predict", image, "image/png")[1]) for image in images]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: request(server + "/predict", images[i % 8], "image/png"), range(32)))
    assert [status for status, _ in answers] == [200] * 32
    for i, (_, body) in enumerate(answers):
        answer = json.loads(body)
        assert answer["class"] == alone[i % 8]["class"]
        assert answer["several"] is (i % 8 == 7)  # each answer with its own request's warning, in any batch
        # Batched (the default) the arithmetic runs in another order: the same answer to float32's rounding.
        assert np.abs(np.array(answer["probabilities"]) - alone[i % 8]["probabilities"]).max() < 1e-5


def test_predict_with_a_trailing_slash_and_head_of_the_page_are_answered(server):
    """POST /predict/ got Starlette's empty 307, which curl does not follow; HEAD / (uptime monitors, curl -I)
    got a 405."""
    data = encode(render_digit(4, canvas=(120, 120), size=90, ink=0, paper=255), "PNG")
    raw = json.loads(request(server + "/predict", data, "image/png")[1])
    status, body = request(server + "/predict/", data, "image/png")
    assert status == 200, body
    assert json.loads(body)["prepared"] == raw["prepared"]
    status, body = request(server + "/", method="HEAD")
    assert (status, body) == (200, b"")


def test_health_info_and_the_page(server):
    assert get(server + "/health") == (200, b"ok")
    status, page = get(server + "/")
    assert status == 200 and b'<canvas id="pad"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing fetched from the network
    info = json.loads(get(server + "/info")[1])["model"]
    assert info["sequence"] == "rows" and info["class_names"][7] == "7 - seven"


# The font size of the smallest text shown (a JavaScript expression).
SMALLEST_TEXT = """Math.min(...Array.from(document.querySelectorAll("body *")).filter((e) =>
        e.offsetParent !== null && Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim()))
        .map((e) => parseFloat(getComputedStyle(e).fontSize)))"""
PAGE_STATE = (
    """
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const card = document.getElementById("answer-card");
    return {
      error: document.getElementById("error").textContent,
      big: document.getElementById("big").textContent,
      summary: document.getElementById("summary").textContent,
      several: document.getElementById("several").textContent,
      several_shown: document.getElementById("several").offsetParent !== null,
      interim: card.classList.contains("interim"), busy: card.classList.contains("busy"),
      title: document.getElementById("title").textContent,
      marker_top: box("marker-right").top, preview: box("preview"), reading: box("reading"),
      answer: box("bars"), big_box: box("big"), viewport: [window.innerWidth, window.innerHeight],
      scroll_width: document.scrollingElement.scrollWidth,
      row_detail: document.getElementById("row-detail").textContent,
      ready: document.getElementById("preview").dataset.ready || null,
      rows: document.querySelectorAll("#reading .row").length,
      pad_lit: (() => { const c = document.getElementById("pad"); const d = c.getContext("2d")
        .getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 128;
        return n; })(),
      smallest_text: """
    + SMALLEST_TEXT
    + """,
    };
"""
)


def state(driver) -> dict:
    return driver.execute_script(PAGE_STATE)


def row_box(driver, row: int) -> dict:
    return driver.execute_script(
        f"return document.querySelector('#reading .row[data-row=\"{row}\"]').getBoundingClientRect();"
    )


def test_the_page_in_chromium_answers_when_the_drawing_pauses(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with new_tab(browser) as driver:
        driver.get(server + "/")
        assert driver.find_element(By.ID, "announce").get_attribute("aria-live") == "polite"  # says the answer
        count_requests(driver)
        pad = driver.find_element(By.ID, "pad")
        draw(driver, pad, DIGITS["4"])  # two strokes: one answer, after the second
        shown = wait_for_answer(driver)
        assert driver.execute_script("return window.posts") == 1  # not one per stroke
        assert shown["error"] == ""
        assert shown["big"].removesuffix("?") in [str(k) for k in range(10)] and shown["bars"] == 3
        assert shown["summary"].startswith(("The answer is ", "Not sure: perhaps "))  # a tiny model: either
        # Percentages as calibrated probabilities are: neither 100% nor 0% unless they are.
        shown_as = driver.execute_script("return [0.99996, 0.9994, 0.5, 0.0012, 0.00003, 0, 1].map(pct)")
        assert shown_as == [">99.9%", "99.9%", "50.0%", "0.1%", "<0.1%", "0%", "100%"]
        assert (shown["preview_width"], shown["preview_height"]) == (28, 28) and shown["preview_shown"] >= 200
        assert shown["lit_pixels"] > 20  # the drawn strokes, prepared
        assert shown["rows"] == [str(r) for r in range(1, 29)] and shown["cells_per_row"] == 10
        # Rows above the digit's first ink are marked as not read yet.
        assert shown["unread"] and shown["unread"] == list(range(1, len(shown["unread"]) + 1))
        page = state(driver)
        assert not page["busy"] and not page["interim"] and page["smallest_text"] >= 12
        assert page["several"] == "" and not page["several_shown"]  # one digit: no warning
        # The line is drawn below row N, where the text says "after row N".
        decided = int(shown["summary"].split("after row ")[1].split()[0])
        assert abs(page["marker_top"] + 1 - row_box(driver, decided)["bottom"]) <= 1.5
        # Each row's details by a click (or a tap): no hover-only tooltip.
        driver.find_element(By.CSS_SELECTOR, '#reading .row[data-row="20"]').click()
        assert state(driver)["row_detail"].startswith("After row 20: ")

        # A new stroke makes the answer on screen interim, until the next answer comes.
        ActionChains(driver).move_to_element_with_offset(pad, 0, 0).click_and_hold().move_by_offset(20, 20).perform()
        assert state(driver)["interim"]
        ActionChains(driver).release().perform()
        WebDriverWait(driver, 30).until(lambda d: driver.execute_script("return window.posts") == 2)
        WebDriverWait(driver, 30).until(lambda d: not state(d)["interim"] and not state(d)["busy"])

        # Clear empties the reading view and what it saw (a tap after it: test_page.py, not sent as a digit).
        driver.find_element(By.ID, "clear").click()
        assert driver.find_elements(By.CSS_SELECTOR, "#reading .row") == []
        assert driver.find_element(By.ID, "preview").get_attribute("data-ready") is None


def test_the_page_clears_errors_speaks_its_own_words_and_draws_after_an_upload_on_a_clean_pad(
    browser, server, tmp_path
):
    from selenium.webdriver.common.by import By

    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("this is not a picture")
    digit = tmp_path / "three.png"
    render_digit(3, canvas=(200, 200), size=160, at=(40, 10)).save(digit)
    two_digits = tmp_path / "thirty-eight.png"
    render_digit(38, canvas=(220, 120), size=90, at=(20, 10), ink=0, paper=255).save(two_digits)
    icon = tmp_path / "icon.png"
    render_digit(4, canvas=(200, 200), size=180, ink=0, paper=255).resize((8, 8)).save(icon)
    iphone_photo = tmp_path / "iphone.heic"
    render_digit(5, canvas=(300, 400), size=250, ink=(30, 30, 40), paper=(230, 225, 215), mode="RGB").save(iphone_photo)
    with new_tab(browser) as driver:
        driver.get(server + "/")
        pad = driver.find_element(By.ID, "pad")
        draw(driver, pad, DIGITS["7"])
        wait_for_answer(driver)
        drawn_alone = state(driver)["pad_lit"]

        # An upload that fails: the page says so in its words; Clear then resets everything, the error too.
        driver.find_element(By.ID, "clear").click()
        driver.find_element(By.ID, "file").send_keys(str(not_a_picture))
        shown = wait_for_answer(driver)
        assert shown["error"].startswith("That file is not a picture")
        driver.find_element(By.ID, "clear").click()
        page = state(driver)
        assert page["error"] == "" and page["big"] == "?" and page["ready"] is None and page["rows"] == 0
        assert page["pad_lit"] == 0

        # The server unreachable: not the browser's "Failed to fetch".
        driver.execute_script("window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));")
        draw(driver, pad, DIGITS["7"])
        error = wait_for_answer(driver)["error"]
        assert error.startswith("The server did not answer") and "Failed to fetch" not in error
        driver.refresh()

        # A drawing after an upload starts on a clean pad: the same 7 lights as many pixels as on its own.
        pad = driver.find_element(By.ID, "pad")
        driver.find_element(By.ID, "file").send_keys(str(digit))
        assert wait_for_answer(driver)["error"] == ""
        WebDriverWait(driver, 10).until(lambda d: state(d)["pad_lit"] > 0)  # the photo on the pad
        draw(driver, pad, DIGITS["7"])
        assert state(driver)["ready"] is None  # the upload's answer went with it
        assert abs(state(driver)["pad_lit"] - drawn_alone) <= 0.02 * drawn_alone
        assert wait_for_answer(driver)["error"] == ""

        # Two digits in one picture: the answer, and a visible warning that it is about one of them; Clear
        # takes the warning away with the answer.
        driver.find_element(By.ID, "clear").click()
        driver.find_element(By.ID, "file").send_keys(str(two_digits))
        assert wait_for_answer(driver)["error"] == ""
        page = state(driver)
        assert page["several"].startswith("That looks like more than one digit: ") and page["several_shown"]
        driver.find_element(By.ID, "clear").click()
        page = state(driver)
        assert page["several"] == "" and not page["several_shown"]
        # A digit in an icon: answered, with a visible word that the answer is less sure than its percentages.
        driver.find_element(By.ID, "file").send_keys(str(icon))
        assert wait_for_answer(driver)["error"] == ""
        page = state(driver)
        assert (
            page["several"].startswith("That digit is tiny in the picture (under 10 pixels)") and page["several_shown"]
        )
        # ... and on the pad as it is, in square pixels: enlarged smoothly, it looked like a large, clear digit.
        shades = driver.execute_script(
            "const pad = document.getElementById('pad');"
            "const data = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;"
            "return new Set(data.filter((_, i) => i % 4 === 0)).size;"
        )
        assert shades <= 64 + 2, shades  # the icon's 64 pixels (and the checks behind a transparent one), no blends

        # An iPhone's photo (HEIC), which Chromium cannot show: read by the server, and the pad says why it is
        # empty until Clear.
        driver.find_element(By.ID, "file").send_keys(str(iphone_photo))
        assert wait_for_answer(driver)["error"] == ""
        hint = driver.find_element(By.ID, "hint")
        WebDriverWait(driver, 10).until(lambda d: hint.text.startswith("This browser cannot show iphone.heic"))
        driver.find_element(By.ID, "clear").click()
        assert hint.text.startswith("Draw one digit")


def test_the_page_on_a_phone_shows_the_answer_and_keeps_the_rows_aligned(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with new_tab(browser, phone=True) as driver:
        driver.get(server + "/")
        assert state(driver)["viewport"] == [390, 844]
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["2"])
        assert wait_for_answer(driver)["error"] == ""
        page = state(driver)
        # The answer is on screen after drawing, without scrolling, and nothing is wider than the screen.
        assert driver.execute_script("return window.scrollY") == 0
        assert page["big_box"]["bottom"] <= 844 and page["answer"]["bottom"] <= 844
        assert page["preview"]["bottom"] <= 844 and page["reading"]["bottom"] <= 844  # the reading view too
        assert page["scroll_width"] <= 390
        # The preview and the reading view side by side, row for row.
        preview, reading = page["preview"], page["reading"]
        assert reading["left"] >= preview["right"]
        assert abs(preview["top"] - reading["top"]) <= 1 and abs(preview["height"] - reading["height"]) <= 1
        assert page["smallest_text"] >= 12
        # A row's details by touch: tapping the preview picks the row under the finger.
        preview_element = driver.find_element(By.ID, "preview")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", preview_element)
        height = preview_element.size["height"]
        ActionChains(driver).move_to_element_with_offset(
            preview_element, 0, int(height * (20.5 / 28 - 0.5))
        ).click().perform()
        assert state(driver)["row_detail"].startswith("After row 21: ")


def test_the_page_takes_its_title_and_class_names_from_the_data_set(browser, fashion_server, tmp_path):
    from selenium.webdriver.common.by import By

    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    with new_tab(browser) as driver:
        driver.get(fashion_server + "/")
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-info"))
        assert state(driver)["title"] == "Draw or upload a garment"
        assert driver.title == "mnist_rnn: draw or upload a garment"
        draw(driver, driver.find_element(By.ID, "pad"), DIGITS["7"])
        shown = wait_for_answer(driver)
        assert shown["error"] == "" and shown["big"].removesuffix("?") in names  # "Ankle boot", not "9"
        named = shown["big"].removesuffix("?")  # "Ankle boot?" when the tiny model is unsure
        assert shown["summary"].startswith((f"The answer is {named}, ", f"Not sure: perhaps {named} ("))


def test_a_fashion_checkpoint_prepares_uploads_as_fashion_mnist_made_its_images(fashion_server):
    garment = np.zeros((28, 28), dtype=np.uint8)  # a Fashion-MNIST image (a light block on black) is taken as is
    garment[2:26, 6:22] = 200
    status, body = request(fashion_server + "/predict", encode(Image.fromarray(garment), "PNG"), "image/png")
    assert status == 200, body
    assert json.loads(body)["prepared"] == garment.tolist()  # the digit search would fit it into 20 pixels
    assert json.loads(body)["small"] is False
    # A garment thumbnail, 10 pixels tall (a garment under 12 is flagged, a digit under 10): /info says which.
    icon = Image.new("L", (14, 14), 255)
    icon.paste(0, (4, 2, 10, 12))
    status, body = request(fashion_server + "/predict", encode(icon, "PNG"), "image/png")
    assert status == 200 and json.loads(body)["small"] is True, body
    assert json.loads(get(fashion_server + "/info")[1])["model"]["small_size"] == 12
    status, body = request(fashion_server + "/predict", encode(Image.new("L", (64, 64), 255), "PNG"), "image/png")
    assert (status, json.loads(body)) == (
        422,
        {"error": "no garment found: the picture is blank, or only lines or noise (draw or upload one garment)"},
    )


def test_an_onnx_file_alone_is_served_as_its_checkpoint_is(server, exported_onnx, tmp_path):
    """A user who deploys export's file holds only it: serve required --ckpt_path beside --onnx. Its metadata
    describes the model to the page, and its answers are the checkpoint's (onnxruntime's, within the 1e-4 that
    export and serve's --onnx check hold the file to)."""
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    onnx_file = deployed / exported_onnx.name
    onnx_file.write_bytes(exported_onnx.read_bytes())  # far from the checkpoint
    pictures = [
        encode(render_digit(7, canvas=(120, 120), size=90, at=(25, 10), ink=0, paper=255), "PNG"),
        encode(render_digit(3), "PNG"),
    ]
    with serving(None, deployed, onnx=onnx_file) as alone:
        assert f"mnist-rnn: serving {onnx_file} at " in serve_log(deployed)
        info = json.loads(get(alone + "/info")[1])["model"]
        answers = [json.loads(request(alone + "/predict", data, "image/png")[1]) for data in pictures]
    expected = json.loads(get(server + "/info")[1])["model"]
    assert info == {**expected, "backend": "onnx"}  # the checkpoint named is the one it was exported from
    for data, answer in zip(pictures, answers, strict=True):
        from_checkpoint = json.loads(request(server + "/predict", data, "image/png")[1])
        assert answer.keys() == from_checkpoint.keys()
        for key in ("class", "class_name", "prepared", "several", "small", "frames"):
            assert answer[key] == from_checkpoint[key], key
        for key in ("probabilities", "per_step", "per_row"):
            assert np.abs(np.array(answer[key]) - np.array(from_checkpoint[key])).max() <= 1e-4, key


def test_an_onnx_file_without_exports_metadata_alone_is_one_line_asking_for_the_checkpoint(
    exported_onnx, tmp_path, capsys
):
    import onnx

    for name, props in (("bare", {}), ("foreign", {"author": "someone", "class_names": "0,1,2,3,4,5,6,7,8,9"})):
        model = onnx.load(str(exported_onnx))
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, props)
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    bare, foreign = tmp_path / "bare.onnx", tmp_path / "foreign.onnx"
    needs = (
        "and without a checkpoint serve needs export's to know the model's data set, classes and input; pass "
        "--ckpt_path, the checkpoint it was exported from, or export that again\n"
    )
    assert (
        one_line_error(["serve", "--onnx", str(bare)], capsys)
        == f"mnist-rnn: error: --onnx {bare}: no metadata, {needs}"
    )
    assert one_line_error(["serve", "--onnx", str(foreign)], capsys) == (
        f"mnist-rnn: error: --onnx {foreign}: not export's metadata (no readable dataset, class_names, image_size, "
        f"num_classes, cell, sequence, bidirectional, hidden_size, num_layers, temperature), {needs}"
    )


def test_the_page_says_what_it_needs_without_javascript(server):
    status, page = get(server + "/")
    noscript = page.decode().split("<noscript>")[1].split("</noscript>")[0]
    assert "needs JavaScript" in noscript and "POST /predict" in noscript


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--ckpt_path", "missing.ckpt"], "--ckpt_path missing.ckpt: no such file", id="no checkpoint"),
        pytest.param(
            ["--backend", "onnx"],
            "pass --ckpt_path CKPT, a checkpoint, or --onnx FILE, an ONNX file written by export",
            id="neither a checkpoint nor an onnx file",
        ),
        pytest.param(["--ckpt_path", "CKPT", "--port", "80"], "--port 80: choose a port from 1024", id="port 80"),
        pytest.param(["--ckpt_path", "CKPT", "--backend", "tf"], "invalid choice: 'tf'", id="unknown backend"),
        pytest.param(
            ["--ckpt_path", "CKPT", "--backend", "onnx", "--onnx", "missing.onnx"],
            "--onnx missing.onnx: no such file",
            id="no onnx file",
        ),
    ],
)
def test_bad_serve_options_are_one_line(args, message, checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert message in one_line_error(["serve", *[str(checkpoint) if a == "CKPT" else a for a in args]], capsys)


def test_an_onnx_file_means_the_onnx_backend(checkpoint, tmp_path, capsys):
    # --onnx FILE without --backend onnx was refused ("--onnx goes with --backend onnx"): it names the model to run.
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")  # parse_args checks that it is there; the checkpoint's answers are checked at start
    assert app.parse_args(["--ckpt_path", str(checkpoint), "--onnx", str(model)]).backend == "onnx"
    assert app.parse_args(["--ckpt_path", str(checkpoint)]).backend == "torch"
    args = ["serve", "--ckpt_path", str(checkpoint), "--backend", "torch", "--onnx", str(model)]
    assert "--onnx runs an ONNX file, --backend torch the checkpoint in PyTorch: give one of them" in one_line_error(
        args, capsys
    )


def test_a_pt2_program_given_as_onnx_is_named_for_what_it_is(checkpoint, tmp_path, capsys):
    """export's other file, given to --onnx: onnxruntime's "INVALID_PROTOBUF : Load model from fast.pt2 failed:
    Protobuf parsing failed.", after the checkpoint had loaded."""
    import zipfile

    program = tmp_path / "fast.pt2"
    with zipfile.ZipFile(program, "w") as archive:  # a torch.export archive, as exported_model knows one
        archive.writestr("fast/archive_format", "pt2")
    args = ["serve", "--ckpt_path", str(checkpoint), "--onnx", str(program)]
    assert one_line_error(args, capsys) == (
        f"mnist-rnn: error: --onnx {program}: a torch.export program (.pt2), not an ONNX model: leave --onnx out to "
        f"run --ckpt_path in PyTorch, or give the .onnx of export --format onnx\n"
    )
    assert one_line_error(["serve", "--onnx", str(program)], capsys) == (  # the .pt2 alone: serve cannot run it
        f"mnist-rnn: error: --onnx {program}: a torch.export program (.pt2), not an ONNX model: serve runs the "
        f".onnx of export --format onnx, or a checkpoint (--ckpt_path)\n"
    )


@pytest.mark.parametrize(
    "args, typed, meant",
    [
        (["--ckpt_path", "CKPT", "--back", "onnx"], "--back", "--backend"),
        (["--ckpt", "CKPT"], "--ckpt", "--ckpt_path"),  # said "the following arguments are required: --ckpt_path"
        (["--ckpt_path", "CKPT", "--allow-origin", "*"], "--allow-origin", "--allow_origin"),
    ],
)
def test_a_misspelt_or_shortened_option_is_refused_with_the_one_meant(args, typed, meant, checkpoint, started, capsys):
    # argparse took --back as --backend, silently (`started`: a test of the old code serves no one); a misspelling
    # named no option to use.
    args = ["serve", *[str(checkpoint) if arg == "CKPT" else arg for arg in args]]
    assert one_line_error(args, capsys) == (
        f"mnist-rnn: error: {typed} is not an option (did you mean {meant}?); see serve --help\n"
    )


def test_help_shows_each_options_default(capsys, monkeypatch):
    """--workers, --threads, --api_servers, --max_batch_size and --batch_timeout said no default, where every other
    option of serve --help does."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    # Each option -> its help, in one line (an option's help may start on the line below it).
    helps = {block.split()[0]: " ".join(block.split()) for block in capsys.readouterr().out.split("\n  --")[1:]}
    for name, default in app.DEFAULTS.items():
        assert helps[name].endswith(f" ({default})"), helps[name]
    assert helps["batch_timeout"] == "batch_timeout BATCH_TIMEOUT seconds to wait to fill a batch (0.002)"


def test_help_takes_each_default_from_the_option(monkeypatch):
    """--port's "(8000)" and --log_level's "(warning)" were typed into their help: a changed default would have
    left them saying the old one. Each option's help says its default through argparse's %(default)s."""
    parsers = []

    def keep(parser, args=None, namespace=None):
        parsers.append(parser)
        raise SystemExit(0)

    monkeypatch.setattr(app.ToolParser, "parse_args", keep)
    with pytest.raises(SystemExit):
        app.parse_args([])
    for action in parsers[0]._actions:
        if action.help and action.default not in (None, [], argparse.SUPPRESS):
            assert "%(default)s" in action.help, (action.dest, action.help)
    # --host and --backend said "(default)" beside a choice ("this machine only (default)"): at the end, as the rest
    helps = {action.dest: action.help for action in parsers[0]._actions}
    assert "(default)" not in helps["host"].replace("%(default)s", "") and helps["host"].endswith("(%(default)s)")
    assert "(default)" not in helps["backend"] and helps["backend"].endswith("(torch; onnx with --onnx)")


def serve_log(folder: Path) -> str:
    return (folder / "run.log").read_text()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def kill_group(group: int) -> None:
    """Whatever a failed test left running (the tests start servers in sessions of their own)."""
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_sigterm_to_the_whole_group_answers_the_requests_in_flight(checkpoint, tmp_path):
    """The group's SIGTERM reached LitServe's queue manager and inference worker too, which ended at once: each
    request in flight got a 500 (and the log a BrokenPipeError traceback). They now outlive the HTTP processes."""
    photo = encode(render_digit(3, canvas=(1600, 1200), size=700, at=(500, 250), ink=30, paper=220), "JPEG")
    answers: list[tuple[float, float, object]] = []  # (sent, answered, status) of each request
    stopping = threading.Event()

    def client(url: str) -> None:
        while not stopping.is_set():
            sent = time.monotonic()
            try:
                status: object = request(url + "/predict", photo, "image/jpeg")[0]
            except OSError as error:  # refused or reset: sent as the server stopped listening
                status = type(error).__name__
            answers.append((sent, time.monotonic(), status))

    clients: list[threading.Thread] = []
    try:
        with serving(checkpoint, tmp_path, group_sigterm=True) as url:
            # daemons, and told to stop whatever happens: a failure here left them sending for ever, and pytest
            # waited for them at its exit, its report never printed
            clients = [threading.Thread(target=client, args=(url,), daemon=True) for _ in range(6)]
            for thread in clients:
                thread.start()
            wait_for(lambda: len(answers) >= 12, 120, "a dozen answers")
            stop = time.monotonic()  # the SIGTERM follows at once, as the block ends
    finally:
        stopping.set()
    for thread in clients:
        thread.join(timeout=60)
    in_flight = [status for sent, answered, status in answers if sent < stop < answered]
    assert 200 in in_flight, answers  # requests in flight at the stop were answered
    # and none with an error status (a connection refused or reset as the server stopped listening is no answer)
    assert all(status == 200 or isinstance(status, str) for _, _, status in answers), answers
    log = serve_log(tmp_path)
    assert "Traceback" not in log and "Broken pipe" not in log, log


def test_a_stop_closes_a_stalled_upload_with_a_503_and_a_second_sigterm_does_not_cut_it_short(checkpoint, tmp_path):
    """uvicorn's stop waits for a request whose body is still coming: an upload that had stalled held serve's stop
    until its body timeout (20 s), then got a 408. Now it gets a 503 at the stop, and serve exits.

    The stop is a SIGTERM to serve and a second one 50 ms later (``serving(twice=True)``), as ``timeout`` sends
    them: the second raised another KeyboardInterrupt inside LitServe's shutdown, a traceback, and the HTTP process
    was left spinning a core while serve never exited. serve's handler leaves the second to the shutdown under way:
    the HTTP process holding the stalled upload gets the shutdown's one SIGTERM, as after a single SIGTERM."""
    with serving(checkpoint, tmp_path, twice=True) as url:  # exit status 0 checked there
        assert get(url + "/health")[0] == 200
        stalled = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        head = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
        stalled.sendall(head + b"\x89PNG\r\n\x1a\n")  # 8 bytes of its body, then nothing
        time.sleep(0.5)  # for the server to read the head: the upload is under way when the stop comes
    with stalled:
        stalled.settimeout(60)  # only bounds the test
        answer = b""
        while chunk := stalled.recv(65536):  # to the connection's end: closed by the server
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "the server is stopping, and the upload had stopped coming: send it again once the server is back"
    }
    log = serve_log(tmp_path)
    assert "Traceback" not in log and "KeyboardInterrupt" not in log and "WARNING" not in log, log


@pytest.mark.parametrize("then", ["nothing", "group SIGTERM"])
def test_once_serve_is_killed_what_it_started_ends(then, checkpoint, tmp_path):
    """With serve killed alone (SIGKILL, the out-of-memory killer) its HTTP processes, queue manager and inference
    worker stayed, holding the port; the manager and the worker also let the group's SIGTERM pass (as they do
    while serve ends them in order). Now they end with serve, and a SIGTERM to the group after it is harmless."""
    port = free_port()
    process = cli_subprocess(
        ["serve", "--ckpt_path", str(checkpoint), "--port", str(port)], tmp_path, start_new_session=True
    )
    try:
        wait_for(lambda: "mnist-rnn: serving " in serve_log(tmp_path), 120, "the serving line")
        process.kill()
        process.wait(timeout=30)
        if then == "group SIGTERM":
            with contextlib.suppress(ProcessLookupError):  # all ended already
                os.killpg(process.pid, signal.SIGTERM)
        wait_for(lambda: no_process_left(process.pid), 30, "every process of serve's group to end")
        app.check_port("127.0.0.1", port)  # free again: a new serve may listen there
    finally:
        kill_group(process.pid)


def inference_worker(url: str) -> int:
    """The process id of the inference worker of the server at ``url``: the one LitServe spawned (the HTTP
    processes are forked, their command line serve's; the resource tracker runs another) from serve's."""
    running = processes()
    port = url.rsplit(":", 1)[1].encode()
    servers = {pid for pid, (_, arguments) in running.items() if b"--port" in arguments and port in arguments}
    workers = spawned_by(servers, running)
    assert len(workers) == 1, running
    return workers[0]


def test_ctrl_c_ends_litserves_monitor_before_its_queues_manager(checkpoint, caplog):
    """On Ctrl+C LitServe shut its queues' manager down while its monitor thread still asked it, every 2 s,
    whether to stop: the next question logged "Monitoring worker crashed" and a BrokenPipeError traceback (a CI
    run's Ctrl+C test caught it). The shutdown, as serve's Ctrl+C calls it, with a monitor that asks often, and
    the manager ended a moment after the stop (in serve, once the HTTP processes have)."""
    import logging
    import multiprocessing
    import types

    server = app.build_server(checkpoint)
    server.monitor_internal = 0.05
    server.inference_workers = []
    manager = multiprocessing.Manager()
    server._shutdown_event = manager.Event()
    server._transport = types.SimpleNamespace(close=lambda send_sentinel: None)
    server._start_worker_monitoring(manager, {})

    class EndsAMomentLater:
        def shutdown(self) -> None:
            time.sleep(0.3)
            manager.shutdown()

    with caplog.at_level(logging.ERROR, logger="litserve"):
        server._perform_graceful_shutdown(EndsAMomentLater(), {}, "keyboard_interrupt")
        time.sleep(0.5)  # ten of the monitor's questions, had it gone on asking
    assert not any(thread.name == "litserve-monitoring" for thread in threading.enumerate())
    assert not [record for record in caplog.records if "Monitoring worker crashed" in record.getMessage()]


def test_a_dead_inference_worker_is_replaced_and_ctrl_c_then_stops_the_server_in_order(checkpoint, tmp_path):
    """Killed (by the kernel for memory, say), it left every request unanswered for 30 s; then serve ended with
    a traceback. Now a new one answers, a line says what happened, and Ctrl+C still stops everything in order.

    Ctrl+C in a terminal (SIGINT to the whole group) is tested here, on the server this test starts anyway: no
    traceback, and a line that says it is over (it ended without a word). The new worker, like the first, ignores
    SIGINT from its setup on, and serve's shutdown ends it."""
    image = encode(render_digit(7, canvas=(200, 200), size=150, at=(50, 20), ink=0, paper=255), "PNG")
    with serving(checkpoint, tmp_path, ctrl_c=True) as url:  # exit status 0 checked there
        assert get(url + "/health")[0] == 200
        expected = request(url + "/predict", image, "image/png")
        assert expected[0] == 200
        os.kill(inference_worker(url), signal.SIGKILL)
        assert request(url + "/predict", image, "image/png") == expected
    log = serve_log(tmp_path)
    assert log.count("mnist-rnn: warning: the inference worker was killed (SIGKILL: out of memory?); starting a ") == 1
    assert "Traceback" not in log and "died" not in log and "KeyboardInterrupt" not in log, log
    assert "WARNING" not in log, log  # LitServe's "Already not alive." of the HTTP process Ctrl+C ended
    assert log.splitlines()[-1] == "mnist-rnn: serve stopped by SIGINT", log  # it ended without a word


def test_sigterm_while_starting_is_one_line_143_and_leaves_no_process(checkpoint, tmp_path):
    process = cli_subprocess(
        ["serve", "--ckpt_path", str(checkpoint), "--port", str(free_port())], tmp_path, start_new_session=True
    )
    try:
        # The line comes once the checks are done, before LitServe starts its workers (seconds on a CPU).
        wait_for(lambda: "mnist-rnn: starting the server" in serve_log(tmp_path), 120, "the server to start")
        process.send_signal(signal.SIGTERM)
        assert finish(process, timeout=60) == 143, serve_log(tmp_path)
        log = serve_log(tmp_path)
        assert log.splitlines()[-1] == "mnist-rnn: serve stopped by SIGTERM while starting", log
        assert "Traceback" not in log
        wait_for(lambda: no_process_left(process.pid), 30, "the worker processes to end")
    finally:
        kill_group(process.pid)


def test_serve_takes_the_open_file_limit_up_to_the_hard_one():
    """Each connection is an open file: at the usual soft limit of 1,024, a burst of 2,000 uploads lost up to a
    third of its answers (accept failed with EMFILE, and the clients saw the connection closed)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        app._open_files_up_to_the_hard_limit()
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert raised == (hard if hard != resource.RLIM_INFINITY else 65536) and raised > low


def test_a_server_started_in_a_process_forked_after_the_import_stops_in_order_on_sigterm(checkpoint, tmp_path):
    port = free_port()
    code = textwrap.dedent(
        f"""
        import os, sys
        import mnist_rnn.serve  # imported in the parent, as a process manager that forks its servers does
        child = os.fork()
        if child == 0:
            from mnist_rnn.cli import main
            try:
                main(["serve", "--ckpt_path", {str(checkpoint)!r}, "--port", "{port}"])
            except SystemExit as stop:
                os._exit(stop.code or 0)
            os._exit(0)
        print(child, flush=True)
        status = os.waitpid(child, 0)[1]
        sys.exit(os.waitstatus_to_exitcode(status) % 256)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with (tmp_path / "run.log").open("wb") as log:
        parent = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=log, start_new_session=True
        )
    try:
        server_pid = int(parent.stdout.readline())
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}") or parent.poll() is not None, 120, "/health")
        assert parent.poll() is None, serve_log(tmp_path)
        os.kill(server_pid, signal.SIGTERM)
        assert finish(parent, timeout=60) == 0, serve_log(tmp_path)  # LitServe's orderly shutdown, not a kill
        assert "Traceback" not in serve_log(tmp_path)
        wait_for(lambda: no_process_left(parent.pid), 30, "the worker processes to end")
    finally:
        kill_group(parent.pid)
        parent.stdout.close()


def test_a_port_in_use_is_one_line_before_anything_says_serving(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = one_line_error(["serve", "--ckpt_path", str(checkpoint), "--port", str(port)], capsys)
    assert f"--port {port}: cannot listen on 127.0.0.1:{port} (" in message and "choose another --port" in message


@pytest.fixture
def started(monkeypatch):
    """Run ``serve`` in-process up to the point where it would listen: the options LitServer.run got, if any."""
    calls = []
    monkeypatch.setattr(app, "check_port", lambda host, port: None)  # never bind beyond loopback in a test
    monkeypatch.setattr(
        app.litserve.LitServer, "run", lambda self, **options: calls.append({**options, "ready_line": self.ready_line})
    )
    return calls


def test_every_interface_gets_a_warning_and_urls_a_browser_can_open(checkpoint, started, capsys):
    main(["serve", "--ckpt_path", str(checkpoint), "--host", "0.0.0.0", "--port", "8123"])
    assert started[0]["host"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 listens on every network interface, without authentication" in err
    ready = started[0]["ready_line"]  # printed once the HTTP processes listen
    assert ready.endswith(f"at http://127.0.0.1:8123/ or http://{socket.gethostname()}:8123/")
    assert "http://0.0.0.0" not in err + ready


def test_a_model_with_a_line_break_in_its_name_is_named_on_one_line(
    checkpoint, exported_onnx, started, tmp_path, capsys
):
    """``serve --ckpt_path $'my\\nmodel.ckpt'``: "mnist-rnn: serving .../my" and "model.ckpt at http://..." on two
    lines, the address on a line of its own; so the note and the errors of an --onnx file. Now the name as bash's
    ``$'...'`` writes it, as the other messages name such a file."""
    own, onnx_file = tmp_path / "my\nmodel.ckpt", tmp_path / "my\nmodel.onnx"
    own.write_bytes(checkpoint.read_bytes())
    onnx_file.write_bytes(exported_onnx.read_bytes())
    main(["serve", "--ckpt_path", str(own)])
    assert started[0]["ready_line"] == f"mnist-rnn: serving $'{tmp_path}/my\\x0amodel.ckpt' at http://127.0.0.1:8000/"
    main(["serve", "--onnx", str(onnx_file)])
    assert started[1]["ready_line"].startswith(f"mnist-rnn: serving $'{tmp_path}/my\\x0amodel.onnx' at ")
    note = f"mnist-rnn: note: $'{tmp_path}/my\\x0amodel.onnx' was exported from a checkpoint that was not calibrated"
    assert note in capsys.readouterr().err
    error = one_line_error(["serve", "--onnx", str(tmp_path / "gone\n.onnx")], capsys)
    assert error == f"mnist-rnn: error: --onnx $'{tmp_path}/gone\\x0a.onnx': no such file\n"


def test_an_onnx_file_of_this_checkpoint_is_taken_and_another_models_refused(
    checkpoint, exported_onnx, started, tmp_path, capsys
):
    own = exported_onnx
    capsys.readouterr()
    main(["serve", "--ckpt_path", str(checkpoint), "--backend", "onnx", "--onnx", str(own)])
    err = capsys.readouterr().err
    assert len(started) == 1 and "exporting" not in err and "is not calibrated" in err  # fit's last.ckpt
    # Without --onnx the checkpoint is exported first, said in a line (a minute of silence for a pixel model).
    main(["serve", "--ckpt_path", str(checkpoint), "--backend", "onnx"])
    # The commands to paste name the program as typed (the tests' argv: the mnist-rnn script)
    assert len(started) == 2 and "for --backend onnx (`mnist-rnn export --ckpt_path" in capsys.readouterr().err
    # The file alone says it was exported uncalibrated, from its metadata's temperature.
    main(["serve", "--onnx", str(own)])
    assert len(started) == 3 and started[2]["ready_line"].startswith(f"mnist-rnn: serving {own} at ")
    err = capsys.readouterr().err
    assert f"note: {own} was exported from a checkpoint that was not calibrated" in err
    assert "`mnist-rnn calibrate` the checkpoint" in err

    # Another model of the same shapes: this file with other weights (a third export would cost seconds).
    import onnx
    from onnx import numpy_helper

    other, model, rng = tmp_path / "other.onnx", onnx.load(str(own)), np.random.default_rng(1)
    weights = [tensor for tensor in model.graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT]
    assert weights
    for tensor in weights:
        values = numpy_helper.to_array(tensor)
        tensor.CopyFrom(numpy_helper.from_array(rng.normal(0, 0.3, values.shape).astype(values.dtype), tensor.name))
    onnx.save(model, str(other))
    capsys.readouterr()
    args = ["serve", "--ckpt_path", str(checkpoint), "--backend", "onnx", "--onnx", str(other)]
    assert f"--onnx {other}: answers otherwise than --ckpt_path {checkpoint}" in one_line_error(args, capsys)
    (tmp_path / "text.onnx").write_text("not a model")
    args[-1] = str(tmp_path / "text.onnx")
    assert "not an ONNX model of --ckpt_path" in one_line_error(args, capsys)
    assert len(started) == 3


def test_a_checkpoint_of_another_model_is_one_line(tmp_path, capsys):
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2, 3)}, "pytorch-lightning_version": "2.6.6"}, other)
    message = one_line_error(["serve", "--ckpt_path", str(other), "--port", str(free_port())], capsys)
    assert "a Lightning checkpoint, but not of this project's model" in message


def test_a_json_body_is_parsed_and_decoded_outside_the_event_loop(monkeypatch):
    """A phone photo's base64 took a quarter of a second to parse and decode (20 MB with line breaks), during
    which the server answered no other request: it is decoded in a thread."""
    threads = []
    decode = http.json_image

    def recorded(body: bytes) -> bytes:
        threads.append(threading.get_ident())
        return decode(body)

    monkeypatch.setattr(http, "json_image", recorded)
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"application/json")]}
    body = json.dumps({"image": base64.b64encode(b"\x89PNG picture").decode()}).encode()

    async def in_the_loop() -> tuple[bytes, int]:
        return await upload_bytes(scope, body), threading.get_ident()

    data, loop_thread = asyncio.run(in_the_loop())
    assert data == b"\x89PNG picture" and threads and threads[0] != loop_thread
