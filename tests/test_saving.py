"""Results folders (``transportbench.saving``): the data as NetCDF or JSON and the figure as PNG."""

import json

import xarray as xr

from transportbench.saving import results_folder, save


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
