"""A real full disk: the CLI on a small tmpfs, mounted in a private mount namespace (``unshare``).

Where no tmpfs can be mounted, the same code paths are covered by injected write errors in ``test_cli.py``.
"""

import shlex
import shutil
import subprocess
import sys

import pytest

SWEEP = "sweep --over mu=2,4,6,8,10 --workers 1 --approaches local"


def _in_private_tmpfs(disk, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with a 256 KiB tmpfs mounted on ``disk``, visible to this run only."""
    mounted = f"mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(disk))} && cd {shlex.quote(str(disk))} && {script}"
    return subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", mounted], capture_output=True,
                          text=True, timeout=300)


def _can_mount(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    return _in_private_tmpfs(probe, "true").returncode == 0


def test_a_full_disk_is_reported_in_one_line_and_loses_no_point(tmp_path):
    if not _can_mount(tmp_path):
        pytest.skip("no tmpfs can be mounted here (needs unshare and user namespaces); the injected write errors "
                    "of test_cli.py cover the same paths")
    disk = tmp_path / "disk"
    disk.mkdir()
    cli = f"{shlex.quote(sys.executable)} -m transportbench"
    steps = [
        ("output too large", f"{cli} {SWEEP} --out s.nc"),
        ("points journalled", "grep -c concurrence s.nc.points.jsonl"),
        ("room made", f"mount -o remount,size=8m {shlex.quote(str(disk))} && {cli} {SWEEP} --out s.nc && ls s.nc"),
        ("disk filled", "dd if=/dev/zero of=fill bs=4k 2>/dev/null; df -k . | tail -1"),
        ("json on a full disk", f"{cli} compare --approaches local --out c.json; echo rc=$?; ls"),
        ("sweep on a full disk", f"{cli} {SWEEP} --out t.nc; echo rc=$?; ls"),
    ]
    script = " ; ".join(f"echo '== {name}' ; {command} ; echo \"== rc $?\"" for name, command in steps)
    run = _in_private_tmpfs(disk, script)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Traceback" not in output
    sections = dict(zip([name for name, _ in steps], run.stdout.split("== ")[1:][::2], strict=True))
    errors = [line for line in run.stderr.splitlines() if line.startswith("transportbench:")]
    assert len(errors) == 3, run.stderr
    # the NetCDF that does not fit: refused before HDF5 writes, the five points stay in the journal
    assert "needs about" in errors[0] and "rerun the same command" in errors[0]
    assert sections["points journalled"].split()[-1] == "5"
    # with room made, the same command writes the file from the journal
    assert "s.nc" in sections["room made"]
    # a JSON output on a full disk: the table is printed, the error says so, no empty file is left
    assert "could not write" in errors[1] and "No space left" in errors[1]
    assert "C(0,1)" in sections["json on a full disk"] and "rc=1" in sections["json on a full disk"]
    assert "c.json" not in sections["json on a full disk"].split("rc=1")[1]
    # a sweep that cannot even write its lock file stops before solving
    assert "lock file" in errors[2] and "nothing was solved" in errors[2]
    assert "rc=1" in sections["sweep on a full disk"]
    assert "t.nc.points.jsonl" not in sections["sweep on a full disk"]
