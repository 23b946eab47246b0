"""josef.speedups: which path runs, said by ``josef --version``, forced by JOSEF_NO_SPEEDUPS, and a
warning about the pure-Python path only when asked for (each case in a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("JOSEF_")}
    full.update(env, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=full,
                          capture_output=True, text=True, timeout=60)


def test_version_names_the_active_path() -> None:
    with_c = _python("import sys; from josef.cli import main; sys.argv = ['josef', '--version']; main()")
    without = _python("import sys; from josef.cli import main; sys.argv = ['josef', '--version']; main()",
                      JOSEF_NO_SPEEDUPS="1")
    assert "\nsend path: C accelerator\n" in with_c.stdout, with_c.stdout + with_c.stderr
    assert "pure Python (JOSEF_NO_SPEEDUPS is set)" in without.stdout, without.stdout + without.stderr


def test_forced_pure_python_sends_without_the_shortcut() -> None:
    code = """
from josef import Producer, speedups
from josef._core.partitioner import murmur2, murmur2_py
from josef._core.records import append_records, append_records_py, encode_records, encode_records_py
from josef.testing import MockCluster
assert not speedups.AVAILABLE and murmur2 is murmur2_py and encode_records is encode_records_py
assert append_records is append_records_py
with MockCluster(brokers=1, topics={"t": 3}) as cluster:
    with Producer(bootstrap_servers=cluster.bootstrap_servers) as producer:
        assert producer.try_send is None
        futures = [producer.send("t", b"v%d" % i, key=b"k", headers={"h": b"x"} if i % 3 else None)
                   for i in range(100)]
        producer.flush()
    assert [f.result().offset for f in futures] == list(range(100))
print("ok")
"""
    result = _python(code, JOSEF_NO_SPEEDUPS="1")
    assert result.stdout.strip() == "ok", result.stderr


def test_pure_python_warning_only_when_asked() -> None:
    quiet = _python("import josef", JOSEF_NO_SPEEDUPS="1")
    warned = _python("import josef", JOSEF_NO_SPEEDUPS="1", JOSEF_WARN_PURE_PYTHON="1")
    assert quiet.returncode == 0, quiet.stderr
    assert warned.returncode != 0 and "RuntimeWarning: josef runs pure Python" in warned.stderr
