"""Real `mdbx serve` processes for tests and benchmarks: start, wait for /health, kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from app.security import cluster_headers

MDBX = str(Path(sys.executable).with_name("mdbx"))
START_DEADLINE = 30.0


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, deadline: float = START_DEADLINE) -> requests.Response:
    """Poll ``url`` until it answers 200, or fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {deadline}s (last error: {last})")


def wait_until(predicate: Any, deadline: float, interval: float = 0.1) -> Any:
    """Call ``predicate`` until it returns something truthy; fail after ``deadline`` s."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {deadline}s")


class Role:
    """One ``mdbx serve`` process (gunicorn master and its gevent workers)."""

    def __init__(
        self,
        role: str,
        data_dir: Path,
        log_dir: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        mdbx: str = MDBX,
        cwd: Path | None = None,
    ) -> None:
        self.role = role
        self.port = port or free_port()
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{role}-{self.port}.log"
        self.env = env or {}
        self.args = args or []
        # Another install's executable (an installed wheel), started from another folder.
        self.mdbx = mdbx
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Role:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDBX_")}
        env["MDBX_ACCESS_LOG"] = "true"  # every request in the logs a failed test prints
        env.update(self.env)
        command = [
            self.mdbx,
            "serve",
            self.role,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        try:
            wait_for_http(self.url + "/health")
        except TimeoutError:
            raise TimeoutError(
                f"{self.role} on {self.port} not ready:\n{self.log_tail()}"
            ) from None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to flush or clean up."""
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM and wait; return the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Cluster:
    """A master and nodes under one temp dir; every role is a real gunicorn process."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = env or {}
        self.log_dir = root / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.masters = [Role("master", root / "master", self.log_dir, env=dict(self.env))]
        self.nodes: list[Role] = []

    @property
    def master(self) -> Role:
        return self.masters[0]

    def _role(self, kind: str, env: dict[str, str] | None, args: list[str] | None = None) -> Role:
        port = free_port()
        return Role(
            kind,
            self.root / f"{kind}-{port}",
            self.log_dir,
            port=port,
            env={**self.env, **(env or {})},
            args=args,
        )

    def add_master(self, env: dict[str, str] | None = None) -> Role:
        """Another master (on a shared PostgreSQL database, for several masters)."""
        role = self._role("master", env)
        self.masters.append(role)
        return role

    def add_node(
        self, env: dict[str, str] | None = None, start: bool = True, wait: bool = True
    ) -> Role:
        node = self._role("node", env, ["--master", ",".join(m.url for m in self.masters)])
        self.nodes.append(node)
        if start:
            node.start(wait=wait)
        return node

    def start(self, nodes: int = 2) -> Cluster:
        """Start the masters, then ``nodes`` nodes together; wait until all are up.

        The nodes boot side by side, not one after another: a node's boot is mostly its one
        worker's imports, which leave the other core idle. The masters come first, as
        before: /health answers from the first worker up, and the nodes' boot is the time
        the other master workers have to finish theirs (a test that counts a master's
        descriptors, or stops it, wants them all serving)."""
        for master in self.masters:
            master.start()
        started = [self.add_node(wait=False) for _ in range(nodes)]
        for node in started:
            node.wait_ready()
        self.wait_nodes_up()
        return self

    def wait_nodes_up(self, deadline: float = START_DEADLINE) -> None:
        """Wait until every master sees every running node up (their first heartbeat)."""
        running = [n for n in self.nodes if n.process and n.process.poll() is None]
        # GET /nodes is for the cluster in secured mode.
        headers = cluster_headers(self.env.get("MDBX_CLUSTER_SECRET", ""))

        def all_up() -> bool:
            for master in self.masters:
                if master.process is None or master.process.poll() is not None:
                    continue
                nodes = requests.get(f"{master.url}/nodes", headers=headers, timeout=5).json()
                up = {n["id"] for n in nodes if n["state"] == "up"}
                if not {str(n.port) for n in running} <= up:
                    return False
            return True

        wait_until(all_up, deadline)

    def stop(self) -> None:
        """SIGTERM every role at once (each may take GRACEFUL_TIMEOUT), then wait for all."""
        roles = [r for r in [*self.nodes, *self.masters] if r.process and r.process.poll() is None]
        for role in roles:
            assert role.process is not None
            role.process.send_signal(signal.SIGTERM)
        for role in roles:
            try:
                role.stop()
            except Exception:
                role.kill()

    def kill(self) -> None:
        """SIGKILL every role at once: for a cluster thrown away after its test, whose
        graceful stop would check nothing and cost a second or two (each gevent worker
        looks at its stop flag once a second, then waits on its held requests)."""
        roles = [r for r in [*self.nodes, *self.masters] if r.process and r.process.poll() is None]
        for role in roles:
            role.signal(signal.SIGKILL)
        for role in roles:
            assert role.process is not None
            role.process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"===== {role.role} {role.port} =====\n{role.log_tail()}"
            for role in [*self.masters, *self.nodes]
        )

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
