"""The README's curl examples work as written against a real cluster."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from localcluster.launcher import Cluster

README = Path(__file__).resolve().parents[2] / "README.md"


def e2e_blocks() -> list[str]:
    """Return the bash blocks the README marks with <!-- e2e -->."""
    return re.findall(r"<!-- e2e -->\s*```bash\n(.*?)```", README.read_text(), re.S)


def test_readme_curl_flow(cluster: Cluster, tmp_path: Path):
    (block,) = e2e_blocks()
    node1, node2 = cluster.nodes
    script = (
        block.replace("localhost:9000", f"127.0.0.1:{cluster.master.port}")
        .replace("localhost:8001", f"127.0.0.1:{node1.port}")
        .replace("localhost:8002", f"127.0.0.1:{node2.port}")
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(b"Hello Mini-Dropbox!\n").hexdigest()
    out = result.stdout
    assert out.count(f'"hash":"{digest}"') >= 3
    first, second = sorted([str(node1.port), str(node2.port)])
    assert f'"replicas":["{first}","{second}"]' in out
    assert '"message":"File registered successfully"' in out
    assert "identical" in out
    assert "Hello Mini-Dropbox!" in out  # the master's /download followed to a replica
    assert (tmp_path / "downloaded_file.txt").read_bytes() == b"Hello Mini-Dropbox!\n"
