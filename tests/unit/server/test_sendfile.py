import subprocess
import sys

# Run in a fresh interpreter: the socket module must be patched by gevent before use,
# as gunicorn's gevent worker does, and that must not leak into the test process.
SCRIPT = r"""
from gevent import monkey
monkey.patch_socket()
import os, socket, tempfile
import gevent
from app.server.sendfile import install_gevent_sendfile

assert install_gevent_sendfile()
data = os.urandom(20 << 20)  # more than a socket buffer (sendfile waits on the hub), corked
with tempfile.TemporaryFile() as f:
    f.write(data)
    f.flush()
    listener = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(listener.getsockname())
    b, _ = listener.accept()
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as gunicorn's sockets
    received = bytearray()

    def reader():
        while len(received) < len(data) - 1000:
            chunk = b.recv(1 << 20)
            if not chunk:
                break
            received.extend(chunk)

    greenlet = gevent.spawn(reader)
    sent = a.sendfile(f, offset=1000)
    greenlet.join(timeout=10)
    assert sent == len(data) - 1000, sent
    assert bytes(received) == data[1000:]
    assert f.tell() == len(data)
    # Corked while it sent; never left corked (a short answer next would wait 200 ms).
    assert a.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
    b.close()
    try:
        a.sendfile(f, offset=0)  # the peer is gone: the send fails ...
    except OSError:
        pass
    assert a.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0  # ... uncorked all the same
    unix_a, unix_b = socket.socketpair()  # no TCP_CORK there: sent as it is
    small = data[: 1 << 16]
    f.seek(0)
    f.truncate(len(small))
    assert unix_a.sendfile(f) == len(small) and unix_b.recv(len(small), socket.MSG_WAITALL) == small
print("ok")
"""


def test_sendfile_under_gevent_sends_every_byte_from_the_offset():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_not_installed_without_gevent_patching():
    code = "from app.server.sendfile import install_gevent_sendfile as i; assert i() is False"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
