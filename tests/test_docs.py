"""The documentation runs: the tutorial notebook executes, and so does every Python example of the README."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorials" / "sweep_mu.ipynb"
README = ROOT / "README.md"


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def test_python_blocks_are_found():
    text = "intro\n```python\nx = 1\n```\n```\nnot python\n```\n```python\ny = 2\nprint(y)\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\nprint(y)\n"]


@pytest.mark.qmeq
def test_readme_python_examples_run(tmp_path):
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no ```python example"
    for block in blocks:
        run = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, f"README example failed:\n{block}\n{run.stderr}"
        assert run.stdout.strip(), f"README example printed nothing:\n{block}"


def test_readme_links_point_at_files():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text())
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing


def test_tutorial_is_stored_without_outputs():
    notebook = nbformat.read(TUTORIAL, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.qmeq
def test_tutorial_notebook_runs(tmp_path, monkeypatch):
    # a "python3" kernel of this interpreter, found before any other installed kernel of that name
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    notebook = nbformat.read(TUTORIAL, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(work)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs), "the notebook drew no figure"
    last = notebook.cells[-1]
    assert last.cell_type == "code"
    assert "C within [0, 1] for every approach" in "".join(output.get("text", "") for output in last.outputs)
    assert not any(work.iterdir()), "the notebook wrote files"


def test_the_cluster_example_runs_as_written_up_to_the_cluster(monkeypatch):
    """docs/usage.md's dask-jobqueue snippet: every name defined, the sweep called as documented (no SLURM here)."""
    import dask_jobqueue

    import transportbench.sweeps

    calls = []

    class Cluster:
        scheduler_address = "tcp://batch:8786"

        def __init__(self, **settings):
            calls.append(("cluster", settings))

        def scale(self, **jobs):
            calls.append(("scale", jobs))

    monkeypatch.setattr(dask_jobqueue, "SLURMCluster", Cluster)
    monkeypatch.setattr(transportbench.sweeps, "sweep", lambda *args, **kwargs: calls.append(("sweep", args, kwargs)))
    block = next(b for b in python_blocks((ROOT / "docs" / "usage.md").read_text()) if "SLURMCluster" in b)
    exec(compile(block, "docs/usage.md", "exec"), {})
    assert [call[0] for call in calls] == ["cluster", "scale", "sweep"]
    assert calls[2][2]["scheduler"] == "tcp://batch:8786" and len(calls[2][1][1]["mu"]) == 41
