from __future__ import annotations

import io

import pytest

from app.errors import BadRequest, MissingField, PayloadTooLarge, UnsupportedMediaType
from app.http.multipart import MAX_PARTS, read_file_part

BOUNDARY = "XyZ"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def form(*parts: tuple[str, str | None, bytes]) -> io.BytesIO:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return io.BytesIO(body + f"--{BOUNDARY}--\r\n".encode())


class Sink(io.BytesIO):
    aborted = False

    def abort(self) -> None:
        self.aborted = True


def parse(stream: io.BytesIO, content_type: str = CONTENT_TYPE, sinks: list[Sink] | None = None):
    opened = [] if sinks is None else sinks

    def open_sink(_name: str) -> Sink:
        opened.append(Sink())
        return opened[-1]

    return read_file_part(stream, content_type, "file", open_sink)


def test_file_part_streams_into_the_sink_and_fields_are_kept():
    data = bytes(range(256)) * 4000  # spans many reads, contains CRLFs and dashes
    upload = parse(form(("hash", None, b"abc"), ("file", "a.bin", data), ("note", None, b"hi")))
    assert upload.filename == "a.bin"
    assert upload.sink.getvalue() == data
    assert upload.fields == {"hash": "abc", "note": "hi"}


def test_other_file_fields_are_skipped():
    upload = parse(form(("other", "x.txt", b"ignored"), ("file", "f.txt", b"kept")))
    assert upload.sink.getvalue() == b"kept"


def test_missing_file_part():
    with pytest.raises(MissingField):
        parse(form(("note", None, b"hi")))


def test_second_file_is_refused():
    with pytest.raises(BadRequest, match="one file"):
        parse(form(("file", "1", b"1"), ("file", "2", b"2")))


def test_truncated_body_aborts_the_sink():
    body = form(("file", "f", b"x" * 1000)).getvalue()[:-30]
    sinks: list[Sink] = []
    with pytest.raises(BadRequest) as caught:
        parse(io.BytesIO(body), sinks=sinks)
    assert caught.value.code == "malformed_multipart"
    assert [sink.aborted for sink in sinks] == [True]


def test_oversized_field():
    with pytest.raises(PayloadTooLarge):
        parse(form(("note", None, b"n" * (65 * 1024)), ("file", "f", b"x")))


def test_too_many_parts():
    parts = [(f"f{i}", None, b"v") for i in range(MAX_PARTS + 1)]
    with pytest.raises(PayloadTooLarge):
        parse(form(*parts, ("file", "f", b"x")))


@pytest.mark.parametrize("content_type", [None, "application/json", "multipart/form-data"])
def test_wrong_content_type(content_type):
    with pytest.raises((UnsupportedMediaType, BadRequest)):
        parse(form(("file", "f", b"x")), content_type)


class CountingBody(io.BytesIO):
    """A body that counts the bytes the parser asked for."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


@pytest.mark.parametrize(
    "body",
    [
        # A 16 MiB part header (#17), which the decoder buffered whole.
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n'
        "X-Pad: " + "a" * (16 << 20) + "\r\n\r\ndata",
        # The same without a line break, and as a preamble before the first boundary.
        f"--{BOUNDARY}\r\n" + "b" * (16 << 20),
        "c" * (16 << 20) + f"\r\n--{BOUNDARY}\r\n",
        # An epilogue that never ends.
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        f"data\r\n--{BOUNDARY}--\r\n" + "d" * (16 << 20),
    ],
)
def test_part_headers_and_the_text_around_parts_are_bounded(body):
    stream = CountingBody(body.encode())
    sinks: list[Sink] = []
    with pytest.raises(PayloadTooLarge):
        parse(stream, sinks=sinks)
    assert stream.read_bytes <= 2 << 20  # a read or two, not the whole body
    assert all(sink.aborted for sink in sinks)


def test_part_headers_within_the_bound_are_fine():
    head = 'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Pad: '
    body = f"--{BOUNDARY}\r\n{head}{'p' * 15000}\r\n\r\nkept\r\n--{BOUNDARY}--\r\n"
    assert parse(io.BytesIO(body.encode())).sink.getvalue() == b"kept"


@pytest.mark.parametrize("name", ["file", "note"])
def test_part_headers_past_the_bound_in_one_read_are_refused_too(name):
    # 200 KB fits in one read of the body: the decoder parses the part's head whole.
    filename = '; filename="a.txt"' if name == "file" else ""
    head = f'Content-Disposition: form-data; name="{name}"{filename}\r\nX-Pad: '
    body = f"--{BOUNDARY}\r\n{head}{'p' * 200_000}\r\n\r\nkept\r\n--{BOUNDARY}--\r\n"
    with pytest.raises(PayloadTooLarge):
        parse(io.BytesIO(body.encode()))


def test_an_empty_file_part_is_an_empty_file():
    upload = parse(form(("note", None, b""), ("file", "empty.bin", b"")))
    assert upload.filename == "empty.bin"
    assert upload.sink.getvalue() == b""
    assert upload.fields == {"note": ""}


def test_a_form_split_into_reads_of_any_size_parses_the_same():
    body = form(("hash", None, b"abc"), ("file", "a.bin", b"x\r\n--Xy-not-quite" * 50)).getvalue()

    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(7)  # boundaries and headers cut at every place

    upload = parse(Trickle(body))
    assert upload.sink.getvalue() == b"x\r\n--Xy-not-quite" * 50
    assert upload.fields == {"hash": "abc"}
