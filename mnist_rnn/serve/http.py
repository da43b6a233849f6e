"""The HTTP side of ``serve``: each upload read, checked and prepared in the HTTP process, and errors as JSON.

Why this is an ASGI middleware and not LitServe's ``LitAPI.decode_request``: LitServe (0.2.19) reads a
request body only as JSON or as a form and hands it to its inference worker, in another process, through a
queue. A raw image body would fail as bad JSON, and a form's file would have to cross the queue as a
temporary-file object. And when requests are batched, one request whose ``decode_request`` raises fails
every request in its batch. So :class:`ImageUploads` reads each upload here (a raw body, a multipart form through
Starlette's ``Request.form()``, that is python-multipart, or base64 in JSON), prepares the 28x28 image and
passes that on as a small JSON document; a bad request is answered here, alone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import re
import sys
import urllib.parse
import warnings
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import anyio
from PIL import Image
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mnist_rnn.errors import first_line
from mnist_rnn.preparation import Prepared, prepare
from mnist_rnn.user_images import (
    DamagedImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    Preparation,
    VectorDrawing,
    decode_image,
    format_by_signature,
    listed,
)

API_PATH = "/predict"
MAX_BYTES = 20 * 1024 * 1024  # the largest picture taken (its pixels are limited by decode_image, as predict's)
# The largest body: the largest picture in base64 (4 characters for 3 bytes, in lines of 76 as MIME writes
# it, each CRLF 4 characters in a JSON string) inside a JSON document. A 16 MB picture sent as JSON was refused
# as "more than 20 MB", as a file it was taken.
MAX_BODY = MAX_BYTES * 4 // 3 * 80 // 76 + 2**16
DRAIN_LIMIT = 4 * MAX_BODY  # an oversized body is read (and dropped) up to here, so the client sees the 413
TOO_LARGE = f"the limit is {MAX_BYTES // 2**20} MB"
# Uploads prepared at once in one HTTP process: one small picture and one large, each in its own lane of one
# thread. One per lane: preparing is numpy and scipy work on arrays of a few hundred kilobytes, and several at
# once in one process only contend for its interpreter and caches (more CPU per request, fewer requests served:
# docs/serve.md, "Tuning"); a second core is used by --api_servers. Two lanes: in one, the page's drawings
# waited behind the phone photos of the same process, many times slower to prepare, and a classroom's drawings
# took seconds while a few students uploaded photos (docs/serve.md, "Tuning").
PREPARING_THREADS = 1
# The most pixels of a small picture, by its file's header: the page's 320x320 canvas, a scan of one digit.
SMALL_PICTURE_PIXELS = 1_000_000
# Seconds a request body may pause (no byte coming) before the upload is refused (408), as nginx's
# client_body_timeout and Apache's RequestReadTimeout refuse one: a client that sent its headers and part of a
# body, then nothing, kept what it had sent in memory (up to MAX_BODY each) for as long as it kept the
# connection, and each such upload made Ctrl+C or SIGTERM wait for LitServe's 30 s per HTTP process, then its
# kill. Under LitServe's graceful shutdown timeout, so that a stop waits at most this long for a stalled upload.
BODY_TIMEOUT = 20
# The request bodies' Content-Encoding read (curl --compressed only asks for compressed answers; some clients
# and proxies compress what they send): the picture is read from the decompressed body.
CONTENT_ENCODINGS = ("gzip", "x-gzip")
# Seconds a request's head (its request line and headers) may take to come whole, from the connection's opening
# or the end of the answer before (ClosesSilentConnections), as Apache's RequestReadTimeout (header=20) and
# nginx's client_header_timeout limit it: a head is a few hundred bytes, sent at once by every client.
HEAD_TIMEOUT = 20
# At a stop (Ctrl+C, SIGTERM), seconds a request body still coming may pause before its connection is closed with
# a 503 (ClosesSilentConnections): an upload under way does not pause that long, a stalled one held the stop.
STOP_PAUSE = 1

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger(__name__)
# python-multipart logs what it finds wrong in a form ("Expected boundary character 45, got 103 at index 2")
# on the server's stderr, one stray line per bad request; the client gets the 400 saying so (_form_problem).
for name in ("python_multipart.multipart", "multipart.multipart"):  # the second: python-multipart before 0.0.13
    logging.getLogger(name).setLevel(logging.ERROR)


class RequestError(Exception):
    """A request the server refuses: the HTTP status and a message that names the problem."""

    def __init__(
        self, status: int, message: str, unreadable: bool = False, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.unreadable = unreadable  # the body is no image file Pillow can read (not one, or damaged)
        self.headers = headers  # of the answer


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every error the server gives: ``{"error": message}`` with its HTTP status."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def prepare_upload(data: bytes, preparation: Preparation = prepare, subject: str = "digit") -> tuple[Prepared, int]:
    """The 28x28 uint8 image (1, 28, 28) the model sees, and whether the picture held more than one digit, from
    an image file's bytes, as ``predict`` makes them: decoded by the same function (same formats, limits and EXIF
    turn), its errors as HTTP statuses; with how many frames or pages the file holds (an animated GIF, a
    multi-page TIFF: the first alone is read, as ``predict`` warns). ``preparation``: the checkpoint's data set's
    (:func:`mnist_rnn.user_images.preparation_for`); ``subject``: what it shows, for the messages
    (:func:`mnist_rnn.user_images.subject_of`)."""
    try:
        image = decode_image(data)
    except NotAnImage as error:
        if (named := named_file(data)) is not None:
            raise RequestError(400, named) from error
        unreadable = not isinstance(error, VectorDrawing)  # a one-line SVG is no file curl -d cut its lines from
        raise RequestError(400 if not data else 415, f"{error}: send one {listed()} file", unreadable) from error
    except ImageTooLarge as error:
        raise RequestError(413, str(error)) from error
    except DamagedImage as error:
        raise RequestError(400, str(error), unreadable=True) from error
    except ImageError as error:  # any other reason it names
        raise RequestError(400, str(error)) from error
    prepared = preparation(image)
    if prepared.blank:  # no digit to find: any answer would be a guess
        raise RequestError(
            422, f"no {subject} found: the picture is blank, or only lines or noise (draw or upload one {subject})"
        )
    return prepared, image.info.get("frames", 1)


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """The whole request body, counting its bytes: over :data:`MAX_BODY` is a 413 (and a picture of over
    :data:`MAX_BYTES` in it, :func:`upload_bytes`). A body whose ``Content-Length`` is over is read without being
    kept (read, up to :data:`DRAIN_LIMIT`, so that the client sees the 413): fifty such uploads at once held the
    limit in memory each. A body that stops coming for :data:`BODY_TIMEOUT` seconds is a 408, and the connection
    is closed after it."""
    declared = _content_length(scope)
    keep = declared is None or declared <= MAX_BODY
    chunks, size, head = [], 0, b""
    while True:
        with anyio.move_on_after(BODY_TIMEOUT) as waiting:
            message = await receive()
        if waiting.cancelled_caught:
            expected = f" of the {declared:,} its Content-Length announced" if declared is not None else ""
            raise RequestError(
                408,
                f"the upload stopped: no byte of its body came for {BODY_TIMEOUT} s, after {size:,}{expected}; "
                f"send it again",
                headers={"Connection": "close"},  # the rest of the body, should it come, is no new request
            )
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if len(head) < HEAD_KEPT:  # kept in any case: what the 413 says may depend on it (_body_too_large)
            head += chunk[: HEAD_KEPT - len(head)]
        if keep and size <= MAX_BODY:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
        if not message.get("more_body", False):
            break
    if size > MAX_BODY or not keep:
        raise _body_too_large(scope, head)
    return b"".join(chunks)


# A multipart part of RFC 2045's quoted-printable, in a body's first bytes (:data:`HEAD_KEPT`): its part's headers.
QUOTED_PRINTABLE_PART = re.compile(rb"\r\ncontent-transfer-encoding:[ \t]*quoted-printable[ \t]*\r\n", re.IGNORECASE)
HEAD_KEPT = 2**16  # the first bytes of a body over MAX_BODY kept to say why it is (its form part's headers)


def _body_too_large(scope: Scope, head: bytes = b"") -> RequestError:
    """The 413 of a body over :data:`MAX_BODY` (as sent, or decompressed), of which ``head`` is the first bytes."""
    if _content_type(scope).startswith("multipart/form-data") and QUOTED_PRINTABLE_PART.search(head):
        # Python's email library, set_content(data, cte="quoted-printable"): each byte of a picture's that is not
        # printable ASCII is 3 characters ("=89"), so a form of a 10 MB photo is about 30 MB, and "more than 20 MB"
        # was not true of the picture. Refused still, as a percent-encoded form is: the body is held in memory
        # whole before it is decoded, and MAX_BODY is what one upload may hold.
        return RequestError(
            413,
            f"upload of more than {MAX_BODY // 2**20} MB: {TOO_LARGE} for a picture (in a form part of "
            f"Content-Transfer-Encoding quoted-printable, a picture takes up to 3 times its size: send the file as it "
            f"is, curl -F file=@picture.png, or its part in base64)",
        )
    if _content_type(scope).startswith("application/x-www-form-urlencoded"):
        # curl --data-urlencode image@photo.jpg: a picture of 10 MB percent-encoded is about 28 MB (up to 3 bytes a
        # byte), and "more than 20 MB" was not true of the picture.
        return RequestError(
            413,
            f"upload of more than {MAX_BODY // 2**20} MB: {TOO_LARGE} for a picture (percent-encoded in a form, "
            f"as curl --data-urlencode sends it, a picture takes up to 3 times its size: send the file as it is, "
            f"curl --data-binary @picture.png)",
        )
    if not _content_type(scope).startswith("application/json"):  # a file as it is: base64's allowance is not its
        return RequestError(413, f"upload of more than {MAX_BYTES // 2**20} MB: {TOO_LARGE}")
    return RequestError(
        413,
        f"upload of more than {MAX_BODY // 2**20} MB: {TOO_LARGE} for a picture (its base64 in a JSON body may "
        f"reach {MAX_BODY // 2**20} MB)",
    )


def content_decoded(scope: Scope, body: bytes) -> bytes:
    """The body as sent before its ``Content-Encoding`` (gzip; none, or identity: the body itself). Read as it
    was, a gzip-compressed picture was "not a PNG, JPEG, ..." file and compressed JSON "not valid JSON ('utf-8'
    codec can't decode byte 0x8b ...)"; and a body in an encoding this server does not read (br, zstd) must not
    be read as if it were in none. Decompressed up to :data:`MAX_BODY` and no further: a few kilobytes of gzip
    can hold gigabytes of zeros."""
    header = dict(scope["headers"]).get(b"content-encoding", b"").decode("latin-1").lower()
    codings = [coding for coding in (part.strip() for part in header.split(",")) if coding not in ("", "identity")]
    if not codings:
        return body
    if len(codings) > 1 or codings[0] not in CONTENT_ENCODINGS:
        raise RequestError(
            415,
            f"a body of Content-Encoding {header.strip()}, which this server does not decode: send it "
            f"uncompressed, or gzip-compressed (Content-Encoding: gzip)",
            headers={"Accept-Encoding": "gzip"},  # RFC 7694: the encodings a server reads, in its 415
        )
    parts, size = [], 0
    while body:  # a gzip file may be several members one after another (cat a.gz b.gz): each is read
        member = zlib.decompressobj(wbits=31)  # 16 + 15: a gzip header and trailer
        try:
            part = member.decompress(body, MAX_BODY + 1 - size)
        except zlib.error as error:
            raise RequestError(400, f"a body of Content-Encoding gzip that is not gzip data ({error})") from error
        parts.append(part)
        size += len(part)
        if size > MAX_BODY:
            raise _body_too_large(scope, parts[0][:HEAD_KEPT])
        if not member.eof:
            raise RequestError(400, "a body of Content-Encoding gzip whose gzip data is cut short")
        body = member.unused_data
    return b"".join(parts)


def _content_length(scope: Scope) -> int | None:
    """The body's size its ``Content-Length`` header gives; None without one (chunked), or a header not a number
    (the HTTP server refuses those before this)."""
    value = dict(scope["headers"]).get(b"content-length", b"")
    return int(value) if value.isdigit() else None


def checked_size(picture: bytes, sent_as: str = "upload") -> bytes:
    """``picture``, if it is at most :data:`MAX_BYTES`; a 413 if more."""
    if len(picture) > MAX_BYTES:
        raise RequestError(413, f"{sent_as} of more than {MAX_BYTES // 2**20} MB: {TOO_LARGE}")
    return picture


async def client_left(receive: Receive) -> bool:
    """Whether the client has closed its connection, asked without waiting, as Starlette's
    ``Request.is_disconnected`` does: the body is read, so the next message is the disconnect, or none yet.
    Asked twice, a turn of the event loop apart: uvicorn stops reading a connection whose body outgrew its
    buffer until the app asks for more, so the first ask only lets it see the connection's end (asked once,
    none of 1,537 uploads of phone photos whose clients had gone was seen to be gone)."""
    for _ in range(2):
        with anyio.CancelScope() as scope:
            scope.cancel()
            message = await receive()
            return message.get("type") == "http.disconnect"
        await anyio.sleep(0)
    return False


# curl -d @digit.png sends the file as a form field, without its line breaks: a PNG no longer (415), a JPEG a
# damaged one (400). Either way, the answer is how to send a file.
FORM_HINT = "not a readable image, and without a single line break, as curl -d leaves a file (it drops them); send "
FORM_HINT += "the file with curl --data-binary @picture.png or curl -F file=@picture.png"
# The Content-Types a file sent with curl -d comes under: its default, and the -H of the docs or of JSON.
CURL_D_TYPES = ("application/x-www-form-urlencoded", "image/", "application/json")
PNG_WITHOUT_LINE_BREAKS = b"\x89PNG\x1a"  # the PNG signature, \x89PNG\r\n\x1a\n, as curl -d leaves it


def lost_its_line_breaks(body: bytes) -> bool:
    """Whether ``body`` is plausibly an image file that curl -d sent without its line breaks: it begins as an image
    file does (a PNG's signature without its own line breaks), and holds none. Text or HTML on one line, or
    base64 (which curl -d leaves whole) were told so too, and the advice to send the file otherwise was no help:
    they are no image however sent."""
    if b"\n" in body or b"\r" in body:
        return False
    return body.startswith(PNG_WITHOUT_LINE_BREAKS) or format_by_signature(body) is not None


# An image file read as text before it was sent, then sent as that text in UTF-8: PowerShell's -Body (Get-Content
# digit.png -Raw), Node's readFileSync(path, "utf8"), Python's open(path).read() each turn its bytes over 127 into
# U+FFFD (lost); JavaScript's binary strings (FileReader.readAsBinaryString) and bytes decoded as Latin-1 into
# two bytes each. The signatures of PNG and JPEG, so sent: theirs are the bytes over 127 that other formats lack.
TEXT_HINT = "; the file was read as text before it was sent, which changes its bytes over 127: send its bytes as they "
TEXT_HINT += "are (curl --data-binary @picture.png; PowerShell: Invoke-RestMethod -InFile picture.png; Python: "
TEXT_HINT += 'open(path, "rb"); JavaScript: the File or Blob itself)'
# A browser's FormData sends a text field's every line break as CRLF: the PNG signature's last \n too. Sent in a
# charset without the character its \x89 was read as (U+FFFD; Windows-1252's U+2030), as Invoke-RestMethod sends a
# text body before PowerShell 7.4 (not UTF-8), a PNG's signature begins with "?".
AS_TEXT = (
    *(
        signature.decode(encoding, errors="replace").encode()
        for signature in (b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\r\n", b"\xff\xd8\xff")
        for encoding in ("utf-8", "latin-1")
    ),
    b"?PNG\r\n\x1a\n",
)


def sent_as_text(body: bytes) -> bool:
    """Whether ``body`` begins as a PNG or JPEG file does once read as text and sent in UTF-8 (:data:`AS_TEXT`)."""
    return body.startswith(AS_TEXT)


def _content_type(scope: Scope) -> str:
    return dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()


JSON_HINT = 'a JSON body needs the image file in base64 as its "image" field: {"image": "iVBORw0KGgo..."}'


def json_image(body: bytes) -> bytes:
    """The image file of a JSON body ``{"image": "<base64 of the file>"}`` (or a ``data:`` URL, as a browser's
    ``canvas.toDataURL()`` and ``FileReader.readAsDataURL()`` give): what JavaScript and API clients send."""
    if not body.strip():  # json's own words for it were "Expecting value: line 1 column 1 (char 0)"
        raise RequestError(400, f"the body is empty: {JSON_HINT}")
    try:
        document = json.loads(body)
    # ValueError: not JSON, not UTF-8, or a number of over 4,300 digits; RecursionError: arrays nested a
    # thousand deep. Each a bad request, not the server's fault.
    except (ValueError, RecursionError) as error:
        # fetch(url, {headers: {"Content-Type": "application/json"}, body: canvas.toDataURL()}), JSON.stringify left
        # out: a data: URL or bare base64 under JSON's type, read as it is without one. It was "not valid JSON
        # (Expecting value: line 1 column 1 (char 0))".
        with contextlib.suppress(RequestError, UnicodeDecodeError):
            if (picture := text_field_image(body.decode("ascii"))) is not None:
                return picture
        if lost_its_line_breaks(body):  # curl -d @digit.png -H "Content-Type: application/json"
            raise RequestError(415, FORM_HINT) from error
        # PowerShell's Invoke-RestMethod -Body (Get-Content digit.png -Raw) -ContentType application/json: the file
        # read as text, under JSON's type. It was "not valid JSON"; under any other type it is told what it is.
        if sent_as_text(body):
            raise RequestError(415, f"not a readable image{TEXT_HINT}") from error
        raise RequestError(400, f"not valid JSON ({first_line(error)})") from error
    if isinstance(document, str):
        return string_image(document)
    encoded = document.get("image") if isinstance(document, dict) else None
    if (kind := format_by_signature(listed_head(encoded))) is not None:
        raise RequestError(
            400,
            f'the "image" field holds the {kind} file\'s bytes as numbers, not its base64: {JSON_HINT} (JavaScript: '
            'btoa(binaryString); Node: buffer.toString("base64"); Python: base64.b64encode(data).decode())',
        )
    if isinstance(encoded, list) and encoded and all(isinstance(item, str) for item in encoded[:16]):
        # {"image": [b64]}, as batch APIs take a list: it was told its list was "of pixels?"
        raise RequestError(
            400, f'the "image" field is a list of strings, not one picture: send one picture per request; {JSON_HINT}'
        )
    if isinstance(encoded, list):  # MNIST's pixels as lists ({"image": [[0, 0, ...], ...]}): the file is wanted
        raise RequestError(
            400,
            'the "image" field is a list (of pixels?), not a picture file: send the file, which the server prepares '
            f"as predict does; {JSON_HINT}",
        )
    if isinstance(document, dict) and "image" not in document:  # {"data": ...}, {"file": ...}: its fields named
        fields = ", ".join(json.dumps(key[:40]) for key in list(document)[:8]) or "none"  # not a 20 MB name
        raise RequestError(400, f"{JSON_HINT} (this one's fields: {fields})")
    if not isinstance(encoded, str):
        raise RequestError(400, JSON_HINT)
    return base64_image(encoded)


def listed_head(value: Any) -> bytes:
    """The first bytes of a file sent as JSON numbers: a list of them (Array.from(bytes), Python's list(data)), Node's
    Buffer as JSON.stringify writes it ({"type": "Buffer", "data": [...]}), or a Uint8Array so written ({"0": 137,
    "1": 80, ...}); b"" for any other value. Such a PNG was told its list was "of pixels?"."""
    if isinstance(value, dict):
        value = value.get("data") if value.get("type") == "Buffer" else [value.get(str(at)) for at in range(32)]
    head = value[:32] if isinstance(value, list) else []
    numbers = [number for number in head if type(number) is int and 0 <= number < 256]
    return bytes(numbers) if numbers and len(numbers) == len(head) else b""


def string_image(document: str) -> bytes:
    """The picture of a JSON document that is a string: JSON.stringify(canvas.toDataURL()), requests' json=b64, the
    picture itself rather than in an object. It was told the generic hint, as if the picture were missing; so was
    JSON.stringify(binaryString) of FileReader.readAsBinaryString, the file read as text (told so, as the raw body
    so read is: 415)."""
    try:
        picture = base64_image(document, "the JSON string")
    except RequestError as error:
        if error.status == 415:  # base64_image's word for the file itself read as text
            raise RequestError(
                415,
                f"the body is a JSON string holding the image file itself, not its base64{TEXT_HINT}, or its base64 "
                "(JavaScript: JSON.stringify({image: btoa(binaryString)}))",
            ) from error
    else:
        if format_by_signature(picture) is not None:
            return picture
    raise RequestError(
        400, f"the body is a JSON string, not the picture's base64 or data: URL, nor an object: {JSON_HINT}"
    )


def json_string_image(body: bytes) -> bytes | None:
    """:func:`string_image` of a body that is a JSON string (sent without a JSON Content-Type: fetch's text/plain),
    or None for one that is not (a text file that begins with a quote is refused as no image, as before)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return string_image(document) if isinstance(document, str) else None


# The byte order marks json.loads reads JSON after: Windows PowerShell writes one (Set-Content -Encoding UTF8: UTF-8's;
# Out-File: UTF-16's) at the start of a file later sent with curl -d @body.json.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def starts_as_json(body: bytes, begins: bytes = b"{") -> bool:
    """Whether ``body`` begins as a JSON object does (``begins``: as a string does, '"'), after a byte order mark if
    it has one: no image file starts with "{" or '"' (nor with a byte order mark). Sent without a JSON Content-Type
    (curl -d @body.json), such a file with its byte order mark was "not a PNG, JPEG, ..." file."""
    head = body[:64]
    for mark, encoding in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            head = head[len(mark) :].decode(encoding, errors="ignore").encode()
            break
    return head.lstrip()[:1] == begins


def base64_image(encoded: str, what: str = "the 'image' field") -> bytes:
    """The file in base64 text or a ``data:`` URL (the JSON field ``image``, or a whole body that is one)."""
    given = encoded
    encoded = encoded.strip()  # a data: URL after a line break (a template literal's): "not base64" before
    if encoded[:5].lower() == "data:":  # a URL's scheme is case-insensitive: DATA: too
        encoded = encoded.partition(",")[2]
    # Without the line breaks of base64's 76-column output (`base64 digit.png`); the URL-safe alphabet (- and
    # _, as JWT libraries and Python's urlsafe_b64encode write it) and missing = padding are read too.
    encoded = "".join(encoded.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError as error:  # binascii.Error, or characters outside ASCII
        # The file itself, read as text (FileReader.readAsBinaryString) and sent as the field's string, as
        # URLSearchParams and JSON.stringify send one: in UTF-8, as the raw body read as text is. It was "not base64
        # (string argument should contain only ASCII characters)"; it is told what the raw body is (415), not read
        # back: the bytes of a file read as UTF-8 are lost (U+FFFD), and the raw body's are not read back either.
        if sent_as_text(given[:16].encode(errors="replace")):
            raise RequestError(
                415,
                f"{what} holds the image file itself, not its base64{TEXT_HINT}, or its base64 in the field "
                "(JavaScript: btoa(binaryString))",
            ) from error
        if NAMES_A_FILE.fullmatch(encoded):  # {"image": "digit.png"}, {"image": "https://.../digit.png"}
            raise RequestError(
                400,
                f"{what} is not base64 but names a file or an address, which this server does not open or fetch: put "
                f"the file's base64 in it",
            ) from error
        raise RequestError(400, f"{what} is not base64 ({first_line(error)})") from error


# A file's path or a URL where base64 was expected: an address, or a name with an image file's extension.
NAMES_A_FILE = re.compile(r"(?i)(?:https?|file)://\S+|\S+\.(?:png|jpe?g|bmp|gif|webp|tiff?|avif|hei[cf])")
NAMED_FIELD = re.compile(r"[A-Za-z0-9_.\[\]-]{1,64}=(.*)", re.DOTALL)  # a URL-encoded form's one field


def named_file(data: bytes) -> str | None:
    """What to say of a picture sent as its file's name or address, not its bytes, or None: ``curl --data-binary
    digit.png`` and ``curl -F file=digit.png`` (the @ left out), requests' ``files={"file": "digit.png"}`` or
    ``data={"file": "digit.png"}``. Each was "not a PNG, JPEG, ..." file (or a field "without a file name") to a user
    whose file is a PNG."""
    if len(data) > 1024:
        return None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if (field := NAMED_FIELD.fullmatch(text)) is not None:  # data={"file": "digit.png"}: "file=digit.png"
        text = urllib.parse.unquote_plus(field.group(1)).strip()
    if "\n" in text or not NAMES_A_FILE.fullmatch("".join(text.split())):
        return None
    shown = '"' + text[:100] + ("\u2026" if len(text) > 100 else "") + '"'
    if re.match(r"(?i)https?://", text):
        return (
            f"the picture sent is the text {shown}, an address, not the picture: this server does not fetch "
            "addresses; download the picture, then send the file (curl --data-binary @picture.png)"
        )
    name = f'"{text}"' if any(c.isspace() for c in text) else text  # as a shell takes it
    return (
        f"the picture sent is the text {shown}, a file's name, not the file: send the file itself (curl: an @ before "
        f'its name, curl --data-binary @{name} or curl -F file=@{name}; requests: files={{"file": open(path, "rb")}})'
    )


# Base64 text, its line breaks taken out (either alphabet, padded or not); no image file is such text, since each
# format's first bytes are not.
BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")
BASE64_START = re.compile(rb"[A-Za-z0-9+/_-]{16}")  # how such a body begins (an image file's base64 is longer)


def starts_as_base64(body: bytes) -> bool:
    """Whether ``body`` begins as base64 text does: a file's own bytes do not (checked before any copying)."""
    return BASE64_START.fullmatch(body.lstrip()[:16]) is not None


def bare_base64_image(body: bytes) -> bytes | None:
    """The image file of a body that is nothing but the file's base64, or None when it is not one: what
    ``base64 digit.png | curl --data-binary @- URL`` and ``curl -d "$(base64 -w0 digit.png)" URL`` send. It was
    refused as "not a PNG, JPEG, ..." file, or told that curl -d had dropped a file's line breaks. Taken when it
    decodes to a file that starts as an image file does (:func:`mnist_rnn.user_images.format_by_signature`)."""
    text = b"".join(body.split())
    if not BASE64_TEXT.fullmatch(text):
        return None
    try:
        picture = base64_image(text.decode("ascii"), "the body")
    except RequestError:
        return None
    return picture if format_by_signature(picture) is not None else None


def text_field_image(text: str) -> bytes | None:
    """The image file in a multipart form's text field: a ``data:`` URL, or base64 that decodes to an image file;
    None for other text (a file's bytes read as UTF-8: refused as before; its own bytes, ``curl -F "file=<digit.png"``,
    are read by :func:`unnamed_part_picture`)."""
    if text.lstrip()[:5].lower() == "data:":
        return base64_image(text, "the form field's data: URL")
    return bare_base64_image(text.encode()) if text.isascii() and starts_as_base64(text.encode()) else None


def unnamed_part_picture(text: str, body: bytes) -> bytes | None:
    """The image file whose own bytes a multipart part without a file name held, from the text Starlette made of
    them (in UTF-8, or, where they are no UTF-8, as an image file's are not, in Latin-1: either gives the bytes
    back exactly), or None for other text. Taken when those bytes begin as an image file does and are in the body
    as they are: the file read as text and sent in UTF-8 (``formData.append("image", binaryString)``) gives text
    of the same characters, whose bytes in the body are not these (told so, :data:`TEXT_HINT`)."""
    for codec in ("latin-1", "utf-8"):
        try:
            head = text[:32].encode(codec)
        except UnicodeEncodeError:
            continue
        if format_by_signature(head) is not None and (picture := text.encode(codec)) in body:
            return picture
    return None


def is_image_form(content_type: str, body: bytes) -> bool:
    """Whether ``body`` is a URL-encoded form whose field ``image`` holds the picture in base64 (no image file
    starts with "image=")."""
    return content_type.startswith("application/x-www-form-urlencoded") and body.startswith(b"image=")


def form_image(body: bytes) -> bytes:
    """The image file of a URL-encoded form's field ``image`` in base64 (``requests.post(url, data={"image":
    b64})``, an HTML form's text field), as the JSON field is read."""
    try:
        fields = form_fields(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestError(400, f"not a readable form ({first_line(error)})") from error
    return base64_image(next(value for name, value in fields if name == "image"), "the form field 'image'")


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """A URL-encoded form's fields (UnicodeDecodeError or ValueError for no such form), each value's spaces read
    back as "+". Blank values kept: without them an empty field ("image=", a file of no bytes) was no field at
    all, a KeyError and a 500; now it is the empty file it is (400). A form's "+" is a space: base64's "+" sent
    unencoded (curl -d "image=$(base64 -w0 digit.png)") came as spaces, which base64 has none of, and the picture
    was "truncated or damaged PNG data"."""
    fields = urllib.parse.parse_qsl(body.decode("ascii"), strict_parsing=True, keep_blank_values=True)
    return [(name, value.replace(" ", "+")) for name, value in fields]


# What a percent-encoded value is made of: curl --data-urlencode leaves letters, digits and -._~ as they are,
# Python's quote / too, JavaScript's encodeURIComponent !'()* too, and a form's space is "+". No image file's own
# bytes are only these.
PERCENT_ENCODED = re.compile(rb"[A-Za-z0-9%!'()*+./_~-]*")
FORM_TEXT = re.compile(rb"[A-Za-z0-9%!'()*+./_~=&-]*")  # such values, named, and joined with &


def percent_encoded_image(body: bytes) -> bytes | None:
    """The image file whose own bytes, percent-encoded, are a URL-encoded form's field (or the whole body), or
    None: ``curl --data-urlencode image@digit.png`` (``@digit.png``: no name) and ``requests.post(url,
    data={"image": png_bytes})`` send the file so. It was "the form field 'image' is not base64", or no image.
    Taken when the field decodes to a file that starts as an image file does."""
    for field in body.split(b"&"):
        name, equals, value = field.partition(b"=")
        value = value if equals else name
        head = urllib.parse.unquote_to_bytes(value[:96].replace(b"+", b" "))  # a few escapes may be cut: enough
        if format_by_signature(head) is not None and PERCENT_ENCODED.fullmatch(value):
            return urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))
    return None


FORM_FIELD = re.compile(rb"[A-Za-z0-9_.\[\]-]{1,64}=")  # how a URL-encoded form begins: a field's name


def form_field_image(body: bytes) -> bytes | None:
    """The picture in base64 or as a ``data:`` URL in a URL-encoded form's field of another name than ``image``
    (``curl -d "file=$(base64 -w0 digit.png)"``, ``requests.post(url, data={"data": b64})``), as a multipart form's
    text fields are read; None when no field holds one. It was "not a readable image"."""
    try:
        fields = form_fields(body)
    except (UnicodeDecodeError, ValueError):
        return None
    for _, value in fields:
        with contextlib.suppress(RequestError):  # a data: URL not in base64: no picture in this field
            if (picture := text_field_image(value)) is not None:
                return picture
    return None


def _boundary(content_type: str) -> str:
    """The boundary a multipart Content-Type header names, as sent ("" when it names none)."""
    return content_type.partition("boundary=")[2].split(";")[0].strip().strip('"')


def _cut_short(content_type: str, body: bytes) -> bool:
    """A form without its closing ``--BOUNDARY--``: its last part (the file) is dropped by the parser, and the
    upload read as one without a file."""
    boundary = _boundary(content_type)
    return bool(boundary) and f"--{boundary}--".encode() not in body


def _closed_without_line_break(content_type: str, body: bytes) -> bool:
    """A form whose closing ``--BOUNDARY--`` does not follow a CRLF, as a body built by hand (an ESP32's or a script's
    string) often has it: the parser takes it for part of the last part's bytes, which it drops unfinished, and the
    upload was read as an empty form, or one without a file."""
    boundary = _boundary(content_type)
    closing = f"--{boundary}--".encode()
    return bool(boundary) and closing in body and b"\r\n" + closing not in body and not body.startswith(closing)


def _parser_error(error: BaseException) -> BaseException | None:
    """python-multipart's own error in ``error``'s chain, or None. Known by its module, which was "multipart"
    before python-multipart 0.0.13."""
    cause: BaseException | None = error
    while cause is not None and not type(cause).__module__.startswith(("python_multipart.", "multipart.")):
        cause = cause.__cause__ or cause.__context__
    return cause


def _form_problem(error: Exception, content_type: str, body: bytes) -> str:
    """What is wrong with a form that Starlette could not read. Starlette says only "Invalid multipart data."
    and keeps python-multipart's reason as the exception's cause; the commonest one, a body that does not
    start with the header's boundary, is a raw file sent under a form's Content-Type, and is said so, as is a
    header without a boundary (set by hand)."""
    problem = str(getattr(error, "detail", error)).rstrip(".")
    cause = _parser_error(error)
    if cause is error:  # older Starlette (0.44) let the parser's error through as it was
        problem = f"Invalid multipart data: {cause}"
    elif cause is not None:
        problem = f"{problem}: {cause}"
    boundary = _boundary(content_type)
    if not boundary:  # requests' files= or curl -F under a Content-Type header set by hand, which names none
        problem += (
            ": the Content-Type header multipart/form-data names no boundary; leave that header to the client "
            "(curl -F, requests' files=), which adds the boundary it used"
        )
    elif body.lstrip(b"\r\n").startswith(f"--{boundary}\n".encode()):
        # A form built by hand with "\n" for its line breaks: the parser's "Did not find CR at end of boundary".
        problem += (
            "; its lines end in \\n alone, and a multipart form's line breaks are \\r\\n (CRLF): after each boundary, "
            "each part's header and the blank line after them, and before the next boundary"
        )
    elif not body.lstrip(b"\r\n").startswith(f"--{boundary}".encode()):
        problem += (
            f"; the body does not begin with --{boundary}, the boundary its Content-Type header names: send the "
            f"image as the form's field 'file' (curl -F file=@picture.png), or as the body with its own Content-Type"
        )
    return problem


# A multipart form's start: its boundary (RFC 2046: up to 70 characters) and its first part's header (curl -F under a
# Content-Type of -H names each part an "attachment").
MULTIPART_START = re.compile(
    rb"--([0-9A-Za-z'()+_,./:=?-]{1,70})\r\nContent-Disposition: *(?:form-data|attachment)", re.IGNORECASE
)
SEND_A_FORM = "send the picture as its field 'file' (curl -F file=@picture.png URL)"


async def upload_bytes(scope: Scope, body: bytes) -> bytes:
    """The image file in a request body: the body itself, the field ``file`` of a multipart form (or its one
    file, or a text field holding the file's base64 or a ``data:`` URL), the base64 field ``image`` of a JSON
    document or a URL-encoded form, or a ``data:`` URL."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    if not _content_type(scope).startswith("multipart/form-data") and (found := MULTIPART_START.match(body)):
        # curl -F file=@digit.png -H "Content-Type: image/png" (the docs' header for --data-binary): curl sends the
        # form under that type, without its boundary, and it was "not a readable image" (as JSON: "not valid JSON").
        # The form's first line names its boundary.
        boundary = found.group(1).decode("ascii")
        rest = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        form_type = f"multipart/form-data; boundary={boundary}".encode()
        scope = {**scope, "headers": [*rest, (b"content-type", form_type)]}
    request = Request(scope, replay)
    content_type = request.headers.get("content-type", "").lower()
    json_type = content_type.startswith("application/json")
    if json_type and format_by_signature(body) is not None:
        # The file itself under JSON's type, as HTTPie sends a body piped or redirected to it (`http POST URL <
        # digit.png`: JSON is its default type): no JSON text begins as an image file does, and the base64 or
        # data: URL of one under that type is read too. It was "not valid JSON: the body is a PNG file".
        return checked_size(body)
    # JSON sent as text/plain or as a form (curl -d @body.json without -H): no image file starts with "{".
    if json_type or starts_as_json(body):
        # In a thread: parsing and decoding a phone photo's base64 (megabytes, often with line breaks) takes
        # long enough that the event loop would answer nothing else meanwhile.
        return checked_size(await anyio.to_thread.run_sync(json_image, body), "picture (in base64)")
    # fetch(url, {body: JSON.stringify(canvas.toDataURL())}): a JSON string as the body, text/plain.
    if starts_as_json(body, b'"') and (picture := await anyio.to_thread.run_sync(json_string_image, body)) is not None:
        return checked_size(picture, "picture (in base64)")
    # fetch(url, {body: canvas.toDataURL()}): the data: URL itself as the body (text/plain); no image file
    # starts with "data:".
    if body.lstrip()[:5].lower() == b"data:":
        try:
            text = body.decode("ascii").strip()
        except UnicodeDecodeError as error:
            raise RequestError(400, "a data: URL body that is not ASCII text") from error
        return checked_size(await anyio.to_thread.run_sync(base64_image, text, "the data: URL"), "picture (in base64)")
    # The file's own bytes percent-encoded (curl --data-urlencode): in a thread, and only for a body that begins as
    # such a form does, with an escape where its first picture would have one (every format's first bytes hold
    # one: PNG's \x89, JPEG's \xff, the zeros of GIF's, BMP's and WebP's sizes). An image file's own first bytes
    # are not all such text (a GIF's or a BMP's begin as letters, then their sizes in binary).
    multipart = content_type.startswith("multipart/form-data")
    if not multipart and b"%" in body[:256] and FORM_TEXT.fullmatch(body[:256]):
        if (picture := await anyio.to_thread.run_sync(percent_encoded_image, body)) is not None:
            return checked_size(picture, "picture (percent-encoded)")
    # A form with the image in base64 as its field "image": it was told to use curl --data-binary, as a file
    # sent with curl -d is.
    if is_image_form(content_type, body):
        return checked_size(await anyio.to_thread.run_sync(form_image, body), "picture (in base64)")
    if content_type.startswith("application/x-www-form-urlencoded") and FORM_FIELD.match(body):
        if (picture := await anyio.to_thread.run_sync(form_field_image, body)) is not None:
            return checked_size(picture, "picture (in base64)")
    if not multipart:
        # In a thread, as the JSON's base64 is decoded, and only for a body that begins as base64 text.
        picture = await anyio.to_thread.run_sync(bare_base64_image, body) if starts_as_base64(body) else None
        return checked_size(body) if picture is None else checked_size(picture, "picture (in base64)")
    if format_by_signature(body) is not None:
        # The file itself under a form's type (PowerShell's Invoke-RestMethod -InFile digit.png -ContentType
        # multipart/form-data): no form begins as an image file does. It was told to leave the header to curl -F.
        return checked_size(body)
    if not body.strip():  # fetch or requests with a form of nothing in it: it was told it was "cut short"
        raise RequestError(400, f"the form is empty, no file in it: {SEND_A_FORM}")
    try:
        # A part without a file name is a field, held whole in memory (the body is already): up to the body's own
        # limit, so that the base64 of a picture under MAX_BYTES is read, and a picture over it in such a part is
        # the 413 a file's is (Starlette's max_part_size of MAX_BYTES made it "Part exceeded maximum size", 400).
        form = await request.form(max_files=1, max_fields=16, max_part_size=MAX_BODY)
    except Exception as error:  # HTTPException: Starlette's wrapping inside an app
        if not isinstance(error, HTTPException | MultiPartException) and _parser_error(error) is None:
            raise
        if "Too many files" in str(getattr(error, "detail", error)):  # Starlette's words for over max_files
            # A readable form of several pictures (curl -F file=@a.png -F file=@b.png, a multiple file input): it was
            # "not a readable multipart upload (Too many files. ...)", as if the form were broken.
            raise RequestError(
                400, "the form holds more than one file: send one picture per request, as the field 'file'"
            ) from error
        problem = _form_problem(error, request.headers.get("content-type", ""), body)  # as sent: not lowered
        raise RequestError(400, f"not a readable multipart upload ({problem})") from error
    try:
        upload = form.get("file")
        if upload is None:
            # The one file of a form that names its field otherwise (requests' files={"image": f}, an HTML form's
            # <input type="file" name="digit">): the form holds at most one (max_files), so it is the picture.
            upload = next((value for _, value in form.multi_items() if isinstance(value, UploadFile)), None)
        if upload is None or isinstance(upload, str):
            # The picture in base64 or as a data: URL in a text field, as the JSON field and the URL-encoded form's
            # are read: JavaScript's formData.append("image", canvas.toDataURL()) sends it so. It was "a form
            # without a file", or told that its field had no file name.
            for name, text in ((name, value) for name, value in form.multi_items() if isinstance(value, str)):
                # The file's own bytes in a part without a file name (aiohttp's form.add_field("file", data),
                # requests' files={"file": (None, data)}): text to Starlette, in Latin-1 where they are no UTF-8,
                # which gives them back exactly. It was told to give the file a name.
                if (picture := await anyio.to_thread.run_sync(unnamed_part_picture, text, body)) is not None:
                    return checked_size(picture)
                # The file read as text (FileReader.readAsBinaryString, or as UTF-8, as Node's FormData turns a
                # Buffer appended into text), as formData.append("image", text) sends it: in UTF-8, as the raw
                # body and the form and JSON fields so read, and told so as they are (it was "multipart upload
                # without a file", or in the field 'file', told to give the file a name). Not a part of the file's
                # own bytes without a file name, read above.
                if sent_as_text(head := text[:16].encode(errors="replace")) and head in body:
                    raise RequestError(
                        415,
                        f"the form field '{name[:40]}' holds the image file itself as text, not as a file{TEXT_HINT}, "
                        'as a file in the form: formData.append("file", blob, "picture.png")',
                    )
                # In a thread, as the JSON's base64 is decoded.
                if (picture := await anyio.to_thread.run_sync(text_field_image, text)) is not None:
                    return checked_size(picture, "picture (in base64)")
                # curl -F file=digit.png, the @ left out: the field holds the file's name.
                if (named := named_file(text.encode())) is not None:
                    raise RequestError(400, named.replace("the picture sent", f"the form field '{name[:40]}'", 1))
        if upload is None and _closed_without_line_break(sent_type := request.headers.get("content-type", ""), body):
            raise RequestError(
                400,
                f"the form's closing boundary --{_boundary(sent_type)}-- does not follow a line break: a part's bytes "
                "end with \\r\\n (CRLF) before the next boundary, so its last part, the file, was left unfinished and "
                "dropped",
            )
        if upload is None and _cut_short(request.headers.get("content-type", ""), body):  # as sent: not lowered
            raise RequestError(400, "the multipart upload was cut short: it ends before its closing boundary")
        if not form:  # only its closing boundary: an empty FormData
            raise RequestError(400, f"the form is empty, no file in it: {SEND_A_FORM}")
        if upload is None:
            raise RequestError(400, "multipart upload without a file (send the image as a file in the field 'file')")
        if not isinstance(upload, UploadFile):
            # A part without a file name is a text field to Starlette: requests' files={"file": (None, data)} and
            # httpx's (None, data) or ("", data) send it so (requests' ("", data) sends filename="", a file to
            # Starlette), read above when its bytes are a picture's; these are not. So is one
            # named only as filename*= (RFC 5987's encoded name), which python-multipart (0.0.30 on) does not read:
            # it was told its name was missing.
            if b"filename*=" in body:
                raise RequestError(
                    400,
                    "the field 'file' named its file only as filename*= (an encoded name), which this server does "
                    'not read, so it was read as text, not a file: add a plain filename="picture.png" to its '
                    "Content-Disposition (curl -F file=@picture.png sends one)",
                )
            raise RequestError(
                400,
                "the field 'file' came without a file name, so it was read as text, not a file: send it as a file "
                "with a name (curl -F file=@picture.png; requests or httpx: files={'file': ('picture.png', data)})",
            )
        picture = await upload.read()
        transfer_encoding = upload.headers.get("content-transfer-encoding", "").strip().lower()
        if transfer_encoding == "base64":
            # A part in base64 (RFC 2045's Content-Transfer-Encoding, deprecated for forms by RFC 7578, still sent
            # by some older clients and mail-minded libraries): python-multipart and Starlette leave it encoded,
            # and the picture was "not a PNG, JPEG, ..." file. In a thread, as the JSON's base64 is decoded.
            what = "the file of Content-Transfer-Encoding base64"
            picture = await anyio.to_thread.run_sync(base64_image, picture.decode("latin-1"), what)
        elif transfer_encoding == "quoted-printable":
            # RFC 2045's other encoding, which Python's email library writes for set_content(data, cte=
            # "quoted-printable") ("=89PNG=0D=0A..."): left encoded too, and refused as "not a PNG, JPEG, ..." file.
            picture = await anyio.to_thread.run_sync(binascii.a2b_qp, picture)
        picture = checked_size(picture)
        if not picture and not upload.filename:
            # An HTML form sent with its file input left empty: a part of filename="" and no bytes. It was "not a
            # readable image (empty file)", as if a file had been chosen.
            raise RequestError(
                400, "the form's file input came empty, as a browser sends it when no file was chosen: choose a picture"
            )
        return picture
    finally:
        await form.close()


def pixel_count(data: bytes) -> int:
    """The pixels an image file's header says it holds, read without decoding it; 0 for a file Pillow does
    not open, or one over its size limit (:func:`prepare_upload` says what is wrong with it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: decode_image refuses those
            with Image.open(io.BytesIO(data)) as image:
                return image.width * image.height
    except Exception:  # any file Pillow cannot open: refused when prepared, in its own words
        return 0


class ToldOnce:
    """What serve's log has told of, for the whole server: the other sites' pages of :class:`ImageUploads`' warning,
    once each. LitServe forks its HTTP processes (``--api_servers``, two by default) after this is made, and each
    builds its own middleware from the same arguments: a set of each one's own told a page once per HTTP process,
    twice with the defaults. So the digests of what was told are in shared memory, as LitServe shares its own
    request counters with its middleware (a ``multiprocessing.Value``); up to :data:`LIMIT` of them, so that a
    client sending made-up origins fills no memory and no log."""

    LIMIT = 100

    def __init__(self) -> None:
        self.digests = multiprocessing.Array("Q", self.LIMIT)  # 0: a free slot; with its lock, for every process

    def first(self, what: str) -> bool:
        """Whether ``what`` is told for the first time (and the log has room for it): True once per server."""
        digest = int.from_bytes(hashlib.blake2b(what.encode(errors="replace"), digest_size=8).digest(), "big") | 1
        with self.digests.get_lock():  # held for a few microseconds, and only for other sites' pages
            held = self.digests[:]
            if digest in held or 0 not in held:
                return False
            self.digests[held.index(0)] = digest
        return True


class AllowedOrigins(CORSMiddleware):
    """Starlette's CORS middleware (serve's ``--allow_origin``), which leaves the browser's preflight (of ``POST
    /predict``, ``GET /info``, any path) from a page of an origin it does not allow to :class:`ImageUploads`, as
    when there is no ``--allow_origin``: a 403 naming the origins allowed and the option to add, and one line in
    serve's log. Starlette's own answer was a plain-text 400 "Disallowed CORS origin", and the log said nothing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and "access-control-request-method" in headers and not self.is_allowed_origin(origin):
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class ImageUploads:
    """ASGI middleware: turns ``POST /predict`` bodies into prepared 28x28 images, or answers a 4xx itself.

    The body is read here (over :data:`MAX_BYTES`: 413), then decoded and prepared in a worker thread (one
    small and one large upload at a time, :meth:`preparing`), so that the event loop goes on reading other
    requests. The endpoint behind receives ``{"prepared": [784 ints], "several": bool, "small": bool, "frames": int}``
    as JSON, which LitServe passes to :meth:`mnist_rnn.serve.worker.DigitAPI.decode_request`.
    """

    def __init__(
        self,
        app: Callable,
        api_path: str = API_PATH,
        preparation: Preparation = prepare,
        subject: str = "digit",
        allow_origins: list[str] | None = None,
        origins_told: ToldOnce | None = None,
    ) -> None:
        self.app = app
        self.api_path = api_path
        self.preparation = preparation
        self.subject = subject  # what the pictures show, for the messages: "digit", "garment", "character"
        self.allow_origins = allow_origins or []  # serve's --allow_origin
        self.lanes: dict[bool, anyio.CapacityLimiter] = {}
        self.origins_told = origins_told or ToldOnce()  # the other sites' pages told of in serve's log

    def refused_origin(self, scope: Scope) -> str | None:
        """The origin of another site's page whose script calls the API from a browser, which keeps the answer
        from it (no ``--allow_origin`` for it), or None. Known by the browser's own headers: a CORS preflight, or
        ``Sec-Fetch-Site`` (an Origin unlike the Host header may be a reverse proxy's doing). Not an HTML form's
        submission (``Sec-Fetch-Mode: navigate``), whose answer the browser shows, CORS or not: it was told to
        start serve with --allow_origin."""
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin or origin in self.allow_origins or "*" in self.allow_origins:
            return None
        if headers.get(b"sec-fetch-mode") in (b"navigate", b"nested-navigate"):
            return None
        preflight = scope["method"] == "OPTIONS" and b"access-control-request-method" in headers
        return origin if preflight or headers.get(b"sec-fetch-site") in (b"same-site", b"cross-site") else None

    def preparing(self, body: bytes) -> anyio.CapacityLimiter:
        """The lane that prepares this upload: small pictures' or large ones' (:data:`PREPARING_THREADS` each;
        made in the process that serves: LitServe forks after this object is built)."""
        large = pixel_count(body) > SMALL_PICTURE_PIXELS
        if large not in self.lanes:
            self.lanes[large] = anyio.CapacityLimiter(PREPARING_THREADS)
        return self.lanes[large]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A front-end on another origin calling /predict (or /info, or any path) without --allow_origin: the browser
        # says only "blocked by CORS policy", and its script sees no answer, nor why. Its developer is told in
        # serve's log, once per origin, and the preflight's answer (in the browser's network panel) says so too: it
        # was a bare 405 (with --allow_origin: Starlette's plain-text 400, for every path but /predict).
        if (origin := self.refused_origin(scope)) is not None:
            allow = f"start serve with --allow_origin {origin} to let it (CORS)"
            if self.allow_origins:  # a list without it: AllowedOrigins left its preflight to this
                listed_origins = " ".join(f"--allow_origin {allowed}" for allowed in self.allow_origins)
                allow = f"serve allows only {listed_origins}: add --allow_origin {origin} to let it (CORS)"
            if self.origins_told.first(origin):
                print(
                    f"mnist-rnn: warning: a page of {origin} calls {scope['path'][:80]} from a browser, which keeps "
                    f"the answers from its script: {allow}",
                    file=sys.stderr,
                    flush=True,
                )
            if scope["method"] == "OPTIONS":
                message = f"a page of {origin} may not call this API from a browser: {allow}"
                await error_response(403, message)(scope, receive, send)
                return
        # /predict/ as /predict: Starlette answered it with an empty 307, which curl and many clients do not
        # follow, and which a client must answer by sending its upload a second time.
        if scope["path"].rstrip("/") != self.api_path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope = {**scope, "path": self.api_path, "raw_path": self.api_path.encode()}
        data = b""
        try:
            data = await read_body(scope, receive)
            if dict(scope["headers"]).get(b"content-encoding"):  # in a thread: up to MAX_BODY to decompress
                data = await anyio.to_thread.run_sync(content_decoded, scope, data)
            body = await upload_bytes(scope, data)
            async with self.preparing(body):
                # A client that gave up waiting (an app's timeout, often sent again at once) gets no answer:
                # preparing its upload anyway made the uploads queued behind it wait for work nobody reads.
                if await client_left(receive):
                    return
                prepared, frames = await anyio.to_thread.run_sync(prepare_upload, body, self.preparation, self.subject)
        except RequestError as error:
            status, message = error.status, error.message
            # A form field (curl -d) has lost every line break: a body with one came as it is (curl --data-binary
            # sends that type too, by default), and the hint to send it so would be no help. So has a file sent
            # with curl -d and the docs' -H "Content-Type: image/png" (every PNG's signature holds line breaks), or
            # -H "Content-Type: application/json" (a JPEG, read as the file it begins as). A JSON body, a form's
            # field image, a data: URL or bare base64 begin as no image file does: their base64, which curl -d
            # leaves whole, was decoded, and the hint would mislead.
            curl_d = _content_type(scope).startswith(CURL_D_TYPES)
            if error.unreadable and curl_d and lost_its_line_breaks(data):
                status, message = 415, FORM_HINT
            elif error.unreadable and sent_as_text(data):
                message = f"not a readable image{TEXT_HINT}"
            await error_response(status, message, error.headers)(scope, receive, send)
            return
        except Exception:  # a bug of ours: JSON and a line in the log, as for every other answer, not a bare 500
            logger.exception("preparing an upload failed")
            await error_response(500, "the server failed to prepare this picture (its log says why)")(
                scope, receive, send
            )
            return
        flags = {"several": prepared.several, "small": prepared.small, "frames": frames}
        payload = json.dumps({"prepared": prepared.pixels.flatten().tolist(), **flags}).encode()
        rest = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length", b"content-encoding")
        ]
        scope = {
            **scope,
            "headers": [*rest, (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
        if await client_left(receive):
            return
        sent = False

        async def receive_prepared() -> Message:
            nonlocal sent
            if sent:  # later calls wait for the client to go away, as the original receive does
                return await receive()
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        await self.app(scope, receive_prepared, send)


async def http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Every other error (404, 405, ...) as ``{"error": ...}``, naming what was wrong, like the uploads' own."""
    path = request.url.path
    if error.status_code == 404:
        message = f"no such path: {path} (POST images to {API_PATH}; the page is at /)"
    elif error.status_code == 405:
        allowed = {k.lower(): v for k, v in (error.headers or {}).items()}.get("allow", "?")
        message = f"{request.method} is not allowed on {path} (allowed: {allowed})"
        if path.rstrip("/") == API_PATH and request.method in ("GET", "HEAD"):  # the address typed in a browser
            base = str(request.base_url)
            message += f": POST a picture to it (curl -F file=@picture.png {base}predict), or open {base} to draw one"
        elif path.rstrip("/") == API_PATH and request.method == "PUT":  # curl -T picture.png sends PUT
            message += ": send the picture with POST (curl --data-binary @picture.png, not curl -T)"
    else:
        message = str(error.detail)
    return error_response(error.status_code, message, error.headers)


# The header of an offer to switch to HTTP/2 in a request's head (ClosesSilentConnections ignores it).
H2C_OFFER = re.compile(rb"\r\nupgrade:[ \t]*h2c[ \t]*(?=\r\n)", re.IGNORECASE)
HELD_LINE = 8192  # the longest part of a head's line held until it is whole: longer is no such offer


class ClosesSilentConnections(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools', or h11's without it) with the timeouts uvicorn lacks. Given to uvicorn
    as its ``http`` protocol by :func:`mnist_rnn.serve.app.main`.

    - A connection that sends nothing for ``timeout_keep_alive`` seconds after it opens is closed, as uvicorn
      closes one that idles between two requests. uvicorn arms that timer only after an answer: a client that
      connected and sent nothing kept its connection, an open file of the HTTP process, for good, and a few
      thousand of them left the next clients' connections reset.
    - A request head (its request line and headers) not whole :data:`HEAD_TIMEOUT` seconds after the connection
      opened, or after the answer before it, gets a 408 and the connection is closed: each byte stops uvicorn's
      timer, so a client that trickled its headers a byte every few seconds (a slowloris) kept it for good.
    - At a stop, uvicorn closes idle connections and lets the requests being answered finish, but it waits for a
      request whose body is still coming: one stalled upload held the stop for :data:`BODY_TIMEOUT`. Now such a
      body that has paused for :data:`STOP_PAUSE` gets a 503 and its connection is closed.
    - An offer to switch to HTTP/2 (``Upgrade: h2c``), which Java's HttpClient, Spring's RestClient, Ktor and
      ``curl --http2`` add to requests to an http:// address, is ignored, as a server may (RFC 9110, 7.8): uvicorn's
      parser (httptools) took such a request as switching protocols and read none of its body, so an upload was
      "an empty form" or "empty file", or got no answer at all. Its ``Upgrade`` header is taken out of the head
      before uvicorn reads it (:data:`H2C_OFFER`), a head in pieces too (its last line held until whole).
    """

    head_timer: asyncio.TimerHandle | None = None
    held_line = b""  # the start of a request head's last line, until it is whole (data_received)
    last_received = 0.0  # the event loop's time of the last bytes read

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        if self.cycle is None or self.cycle.response_complete:  # a request's head begins here (its body may follow)
            if self.held_line:
                data, self.held_line = self.held_line + data, b""
            end = data.find(b"\r\n\r\n")
            if end < 0 and 0 <= (line := data.rfind(b"\r\n")) and len(data) - line <= HELD_LINE:
                # A head in pieces (TCP segments: one with long cookies or a token spans several), cut inside a
                # header line: that line is held until it is whole, so that an offer cut in two is found (it was
                # found only where the head came whole). The whole lines before it go on, the offer taken out.
                data, self.held_line = H2C_OFFER.sub(b"", data[: line + 2])[:-2], data[line:]
                if not data:  # nothing to pass on (an empty read is the connection's end to h11)
                    self._unset_keepalive_if_required()  # as a read does: the head timer watches it meanwhile
                    return
            else:
                # With each header's own line end: an offer as the head's last header was read as the switch.
                head = data if end < 0 else data[: end + 2]
                if H2C_OFFER.search(head):
                    data = H2C_OFFER.sub(b"", head) + data[len(head) :]
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # kept alive for a next request
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:  # not left holding this connection's objects until it is due
            self.head_timer.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        super().shutdown()
        self._close_if_stalled()

    def _await_head(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _head_too_slow(self) -> None:
        reading_a_head = self.cycle is None or self.cycle.response_complete  # no request read or answered
        if reading_a_head and not self.transport.is_closing() and self.transport.get_protocol() is self:
            self._answer_and_close(
                408, f"the request's headers did not come whole within {HEAD_TIMEOUT} s; send it again"
            )

    def _close_if_stalled(self) -> None:
        """At a stop: the connection of a request whose body is still coming, once none of it has come for
        :data:`STOP_PAUSE` seconds (looked at again until then)."""
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or cycle.response_started or not cycle.more_body:
            return  # closed by uvicorn (idle), or its body has come: it is answered, then closed
        # reading paused: the app has yet to read what came, and nothing more is read meanwhile
        paused = 0.0 if self.flow.read_paused else self.loop.time() - self.last_received
        if paused < STOP_PAUSE:
            self.loop.call_later(STOP_PAUSE - paused, self._close_if_stalled)
        else:
            self._answer_and_close(
                503, "the server is stopping, and the upload had stopped coming: send it again once the server is back"
            )

    def _answer_and_close(self, status: int, message: str) -> None:
        """``{"error": message}`` with ``status``, written here as uvicorn writes its own 400 for a request it cannot
        parse: the app has no request to answer (a head not whole), or is still waiting for the body, and whatever
        it answers once the connection is closed is dropped."""
        answer = error_response(status, message, {"Connection": "close"})  # the app's own body and headers
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        for name, value in [*self.server_state.default_headers, *answer.raw_headers]:
            head.append(name + b": " + value + b"\r\n")
        self.transport.write(b"".join(head) + b"\r\n" + answer.body)
        self.transport.close()
