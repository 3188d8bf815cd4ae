"""A private, throwaway nginx for benchmarks: static GET with sendfile plus WebDAV PUT.

    with Nginx(root=some_dir) as nginx:
        subprocess.run(["curl", "-T", "f.bin", f"{nginx.url}/f.bin"], check=True)

Runs Debian's /usr/sbin/nginx (installed with apt-get when missing) as the current user on
a free 127.0.0.1 port, with its config, pid file, logs and temp dirs in a temporary prefix
directory: nothing under /etc/nginx or /var is read or written.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from bench.procstat import children

NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Answers with the prefix dir's name, so that start() knows the port is this nginx's.
READY_PATH = "/.bench-nginx-ready"

# Debian's build has these on; each keeps a compiled-in temp dir under /var/lib/nginx that
# nginx creates at start unless the config points it elsewhere.
_TEMP_PATH_MODULES = {
    "client_body_temp_path": None,  # core, always present
    "proxy_temp_path": "http_proxy",
    "fastcgi_temp_path": "http_fastcgi",
    "uwsgi_temp_path": "http_uwsgi",
    "scgi_temp_path": "http_scgi",
}

_install_lock = threading.Lock()


def apt_installed(package: str, binary: Path) -> Path:
    """Return ``binary``, installing Debian's ``package`` (non-interactive) if it is missing."""
    with _install_lock:
        if binary.exists():
            return binary
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", package]
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            # A fresh machine may have no package lists yet ("Unable to locate package").
            subprocess.run(
                ["apt-get", "update", "-q"], env=env, capture_output=True, text=True, timeout=600
            )
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not binary.exists():
            raise RuntimeError(
                f"{package} is not installed and `{' '.join(install)}` failed "
                f"(exit {result.returncode}; needs root):\n{result.stdout[-2000:]}"
                f"{result.stderr[-2000:]}"
            )
        return binary


def nginx_binary() -> Path:
    """Return the nginx binary, installing Debian's ``nginx`` package if it is missing."""
    return apt_installed("nginx", NGINX)


@functools.cache
def _nginx_dash_v(flag: str) -> str:
    # nginx prints -v / -V to stderr; cached because the binary does not change under us.
    result = subprocess.run(
        [str(nginx_binary()), flag], capture_output=True, text=True, check=True, timeout=30
    )
    return result.stderr + result.stdout


def nginx_version() -> str:
    """Return the installed nginx's version, e.g. ``"1.22.1"``."""
    out = _nginx_dash_v("-v")
    match = re.search(r"nginx/(\S+)", out)
    if not match:
        raise RuntimeError(f"cannot parse nginx version from {out!r}")
    return match.group(1)


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Nginx:
    """Context manager running a private nginx on ``url`` serving (and accepting PUTs into)
    ``root``.

    ``root`` defaults to a temporary directory removed on stop; a caller's root is kept.
    The prefix (config, logs, temp files) goes in ``tmp_dir`` (default: the system temp
    dir); a PUT body is spooled there and then renamed into ``root``, so for PUT throughput
    on another filesystem pass a ``tmp_dir`` on root's filesystem, or nginx copies the file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        workers: int | str = "auto",
        tmp_dir: str | os.PathLike[str] | None = None,
        extra_http: str = "",
    ) -> None:
        self._given_root = Path(root).resolve() if root is not None else None
        self._workers = workers
        self._tmp_dir = tmp_dir
        self._extra_http = extra_http
        self._prefix: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.root: Path = self._given_root or Path()
        self.port = 0
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Nginx:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The master process's pid."""
        if self._process is None:
            raise RuntimeError("nginx is not running")
        return self._process.pid

    def pids(self) -> list[int]:
        """The master's pid followed by its children's (the workers)."""
        return [self.pid, *children(self.pid)]

    def start(self) -> None:
        """Start nginx and wait (bounded) until it answers on its port."""
        if self._process is not None:
            raise RuntimeError("nginx already started")
        binary = nginx_binary()
        self._check_modules()
        self._prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-", dir=self._tmp_dir))
        try:
            if self._given_root is None:
                self.root = self._prefix / "root"
                self.root.mkdir()
            else:
                self.root = self._given_root
                self.root.mkdir(parents=True, exist_ok=True)
            # The port is free only until nginx binds it; someone may take it meanwhile.
            for attempt in range(3):
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                if self._launch(binary, last=attempt == 2):
                    return
        except BaseException:
            self.stop()
            raise

    def _check_modules(self) -> None:
        if "--with-http_dav_module" not in _nginx_dash_v("-V"):
            raise RuntimeError(f"{NGINX} was built without http_dav_module (WebDAV PUT)")

    def _launch(self, binary: Path, last: bool) -> bool:
        """Start nginx on ``self.port``; False if the port was taken and ``last`` is False."""
        assert self._prefix is not None
        conf = self._prefix / "nginx.conf"
        conf.write_text(self._config())
        error_log = self._prefix / "error.log"
        error_log.unlink(missing_ok=True)  # a previous attempt's "in use" must not count
        stderr_log = self._prefix / "stderr.log"
        with stderr_log.open("wb") as out:
            self._process = subprocess.Popen(
                # -e: the log used before the config is read would otherwise be
                # /var/log/nginx/error.log.
                [str(binary), "-p", f"{self._prefix}/", "-c", str(conf), "-e", str(error_log)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                logs = self._logs()
                self._process = None
                if "Address already in use" in logs and not last:
                    return False
                raise RuntimeError(f"nginx exited at start:\n{logs}")
            if self._answers():
                return True
            time.sleep(0.02)
        logs = self._logs()
        self.stop()
        raise RuntimeError(
            f"nginx did not answer on port {self.port} in {START_TIMEOUT} s:\n{logs}"
        )

    def _answers(self) -> bool:
        # Whoever took the port in a race would accept connections too (nginx retries
        # bind() for 2.5 s before it gives up), so ask for a token only ours returns.
        assert self._prefix is not None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", READY_PATH)
            response = conn.getresponse()
            return response.status == 200 and response.read().decode() == self._prefix.name
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _logs(self) -> str:
        assert self._prefix is not None
        parts = []
        for name in ("stderr.log", "error.log"):
            try:
                parts.append(f"--- {name}\n{(self._prefix / name).read_text(errors='replace')}")
            except OSError:
                continue
        return "\n".join(parts)

    def _config(self) -> str:
        assert self._prefix is not None
        temp = self._prefix / "temp"
        temp.mkdir(exist_ok=True)
        configure = _nginx_dash_v("-V")
        temp_paths = []
        for directive, module in _TEMP_PATH_MODULES.items():
            if module is None or f"--without-{module}_module" not in configure:
                name = directive.removesuffix("_temp_path")
                temp_paths.append(f'    {directive} "{temp / name}";')
        temp_lines = "\n".join(temp_paths)
        # Started as root, Debian's nginx would run its workers as www-data, which cannot
        # write to the caller's root; as any other user the directive is ignored (warning).
        user = ""
        if os.geteuid() == 0:
            user = (
                f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
            )
        return f"""\
{user}
daemon off;
master_process on;
worker_processes {self._workers};
pid "{self._prefix / "nginx.pid"}";
error_log "{self._prefix / "error.log"}" warn;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout 65;
{temp_lines}
{self._extra_http}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        root "{self.root}";

        location = {READY_PATH} {{
            return 200 "{self._prefix.name}";
        }}

        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }}
    }}
}}
"""

    def stop(self) -> None:
        """Stop nginx (graceful, then forced) and remove the temporary directory."""
        process, self._process = self._process, None
        if process is not None:
            # Workers outlive a SIGKILLed master, so remember them to clean up after.
            workers = children(process.pid)
            for sig, timeout in (
                (signal.SIGQUIT, STOP_TIMEOUT),
                (signal.SIGTERM, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                if process.poll() is not None:
                    break
                process.send_signal(sig)
                try:
                    process.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
            orphans = [pid for pid in workers if "nginx" in _cmdline(pid)]
            for pid in orphans:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # They are no longer our children: wait (bounded) for init to reap them, so
            # that a caller checking for leftover nginx processes sees none.
            deadline = time.monotonic() + 2.0
            while any(_exists(pid) for pid in orphans) and time.monotonic() < deadline:
                time.sleep(0.02)
        if self._prefix is not None:
            shutil.rmtree(self._prefix, ignore_errors=True)
            self._prefix = None
