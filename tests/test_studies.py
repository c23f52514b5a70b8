"""The studies: their plumbing (studies/_common.py), how the command line finds and runs one, tools/run_studies.py.

The runner runs every study in its own environment (one thread, a memory budget), longest first, and reports
failures with their times. The results files the studies write (``transportbench.saving``) are tested in
test_saving.py.
"""

import importlib.util
import sys
from pathlib import Path

import matplotlib
import pytest

from transportbench.cli import main
from transportbench.saving import results_folder, save

STUDIES = Path(__file__).parents[1] / "studies"


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(STUDIES))  # as running a study does
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    import _common

    return _common


# ----------------------------------------------------------------------------------------- plumbing
def test_quick_studies_write_apart_from_full_ones(common, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["study"])
    assert common.study_arguments("doc").results == "results"
    monkeypatch.setattr(sys, "argv", ["study", "--quick"])
    assert common.study_arguments("doc").results == "results/quick"
    monkeypatch.setattr(sys, "argv", ["study", "--quick", "--results", "elsewhere"])
    assert common.study_arguments("doc").results == "elsewhere"


def test_the_studies_plot_without_a_screen_and_share_the_library_s_files(common):
    assert matplotlib.get_backend().lower() == "agg"
    assert common.save is save and common.results_folder is results_folder


def test_the_command_line_runs_a_study_that_imports_its_plumbing(tmp_path, monkeypatch, capsys):
    (tmp_path / "_common.py").write_text("GREETING = 'plumbing found'\n")
    (tmp_path / "hello.py").write_text("import sys\nfrom _common import GREETING\nprint(GREETING, sys.argv[1:])\n")
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    path = list(sys.path)
    assert main(["study", "--studies-dir", str(tmp_path), "hello", "--quick"]) == 0
    assert "plumbing found ['--quick']" in capsys.readouterr().out
    assert sys.path == path  # the studies folder is on the path only while the study runs
    assert main(["study", "--studies-dir", str(tmp_path), "_common"]) == 2
    assert "unknown study '_common'; available in" in capsys.readouterr().err


# ----------------------------------------------------------------- the runner: tools/run_studies.py
RUNNER_PATH = Path(__file__).parents[1] / "tools" / "run_studies.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("run_studies", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does (the dataclass looks its module up)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_long_studies_start_first(runner):
    names = ["w_machine_exact", "regime_map", "a_new_study", "fig3_point_exact"]
    order = [path.stem for path in runner.schedule([Path(f"{name}.py") for name in names])]
    assert order == ["a_new_study", "regime_map", "w_machine_exact", "fig3_point_exact"]


def test_runs_every_study_with_one_thread_and_its_budget_and_reports_failures(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSPORTBENCH_MEMORY_GIB", raising=False)
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "w_machine_exact.py").write_text(
        "import os, sys\n"
        "print('budget', os.environ['TRANSPORTBENCH_MEMORY_GIB'], 'threads', os.environ['OMP_NUM_THREADS'],"
        " 'args', sys.argv[1:])\n")
    (studies / "broken.py").write_text("raise SystemExit(3)\n")
    (studies / "_common.py").write_text("raise SystemExit(4)  # plumbing, not a study\n")
    results = tmp_path / "results"
    status = runner.main(["--jobs", "2", "--quick", "--studies-dir", str(studies), "--results", str(results)])
    assert status == 1  # one study failed
    log = (results / "quick" / "logs" / "w_machine_exact.log").read_text()
    assert "budget 8.0 threads 1 args ['--quick']" in log
    timings = (results / "timings.txt").read_text()
    assert "| `broken` |" in timings and "FAILED (exit 3" in timings
    assert "| `w_machine_exact` |" in timings and "| 8 | ok |" in timings
    assert "--quick" in timings.splitlines()[0]
    assert "_common" not in timings and not (results / "quick" / "logs" / "_common.log").exists()


def test_unknown_study_names_are_refused(runner, tmp_path):
    with pytest.raises(SystemExit):
        runner.main(["--studies-dir", str(tmp_path), "--results", str(tmp_path / "r"), "nonexistent"])


def test_an_installed_package_runs_its_own_copy_of_the_studies(tmp_path, monkeypatch, capsys):
    """Outside a clone the studies come from share/transportbench/studies (the wheel's data files)."""
    import transportbench.cli as cli

    installed = tmp_path / "share" / "transportbench" / "studies"
    installed.mkdir(parents=True)
    (installed / "hello.py").write_text("import sys\nprint('installed study', sys.argv[1:])\n")
    monkeypatch.setattr(cli, "SOURCE_STUDIES", tmp_path / "no clone" / "studies")
    monkeypatch.setattr(cli, "INSTALLED_STUDIES", installed)
    assert main(["study", "hello", "--quick"]) == 0
    assert "installed study ['--quick']" in capsys.readouterr().out
    monkeypatch.setattr(cli, "INSTALLED_STUDIES", tmp_path / "nowhere")
    assert main(["study", "hello"]) == 2
    assert "give their folder with --studies-dir" in capsys.readouterr().err


def test_the_studies_folder_may_follow_the_name_and_help_lists_the_studies(tmp_path, capsys):
    (tmp_path / "hello.py").write_text("import sys\nprint('found', sys.argv[1:])\n")
    assert main(["study", "hello", "--studies-dir", str(tmp_path), "--quick"]) == 0
    assert "found ['--quick']" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("fig3_concurrence_map", "w_machine_exact", "cotunnelling_leakage"))


def test_the_wheel_ships_every_study_script():
    import tomllib

    project = tomllib.loads((STUDIES.parent / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["data-files"]["share/transportbench/studies"]
    shipped = {path for pattern in patterns for path in STUDIES.parent.glob(pattern)}
    assert shipped == set(STUDIES.glob("*.py")) and (STUDIES / "_common.py") in shipped
