"""The studies' plumbing (studies/_common.py), the library's results files, and how studies are found and run."""

import json
import sys
from pathlib import Path

import matplotlib
import pytest
import xarray as xr

from transportbench.cli import main
from transportbench.saving import results_folder, save

STUDIES = Path(__file__).parents[1] / "studies"


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(STUDIES))  # as running a study does
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    import _common

    return _common


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


def test_results_files_hold_the_data_and_the_figure(tmp_path, capsys):
    import matplotlib.pyplot as plt

    folder = results_folder(tmp_path / "results", "demo")
    assert folder.is_dir() and folder == tmp_path / "results" / "demo"
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    save(folder, "table", xr.Dataset({"x": ("i", [1.0, 2.0])}), figure)
    save(folder, "numbers", {"a": 1.5})
    assert xr.load_dataset(folder / "table.nc").x.values.tolist() == [1.0, 2.0]
    assert (folder / "table.png").stat().st_size > 0 and not plt.fignum_exists(figure.number)
    assert json.loads((folder / "numbers.json").read_text()) == {"a": 1.5}
    assert not (folder / "numbers.png").exists()
    assert capsys.readouterr().out.count("wrote") == 3


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
