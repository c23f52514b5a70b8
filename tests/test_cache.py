"""transportbench.cache: results computed once, reused only with the same key, damage recomputed, never lost."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from transportbench.cache import CacheWarning, PointCache, cached_dataset


def test_a_dataset_is_computed_once_per_key(tmp_path):
    calls = []

    def compute(value: float):
        def make():
            calls.append(value)
            return xr.Dataset({"x": ("i", np.array([value, 2 * value]))})
        return make

    path = tmp_path / "parts" / "a.nc"
    first, reused = cached_dataset(path, "settings 1", compute(1.0))
    again, reused_again = cached_dataset(path, "settings 1", compute(5.0))
    assert not reused and reused_again and calls == [1.0] and np.array_equal(again.x, [1.0, 2.0])
    changed, reused = cached_dataset(path, "settings 2", compute(3.0))
    assert not reused and calls == [1.0, 3.0] and np.array_equal(changed.x, [3.0, 6.0])
    path.write_bytes(b"not netcdf")
    with pytest.warns(CacheWarning, match="cannot be read"):
        repaired, reused = cached_dataset(path, "settings 2", compute(4.0))
    assert not reused and float(repaired.x[0]) == 4.0 and cached_dataset(path, "settings 2", compute(9.0))[1]


def test_points_are_kept_one_line_each_and_read_back(tmp_path):
    path = tmp_path / "points.jsonl"
    cache = PointCache(path)
    record = {"C": np.float64(0.5), "kpnt": np.int64(935), "error": math.nan, "big": -math.inf, "status": "ok"}
    assert cache.get("D=100", lambda: record) is record
    assert cache.get("D=100", lambda: pytest.fail("computed twice")) is record
    cache.get("D=200", lambda: {"C": 0.25})
    assert len(path.read_text().splitlines()) == 2
    reread = PointCache(path).records
    assert reread["D=100"]["kpnt"] == 935 and math.isnan(reread["D=100"]["error"])
    assert reread["D=100"]["big"] == -math.inf
    assert reread["D=200"] == {"C": 0.25} and "NaN" not in path.read_text()


def test_a_cut_last_line_is_computed_again(tmp_path):
    path = tmp_path / "points.jsonl"
    PointCache(path).get("a", lambda: {"C": 1.0})
    with path.open("a") as handle:
        handle.write('{"key": "b", "record": {"C"')  # an interrupted append
    with pytest.warns(CacheWarning, match=r"damaged line\(s\) \[2\]"):
        cache = PointCache(path)
    assert set(cache.records) == {"a"} and cache.get("b", lambda: {"C": 2.0}) == {"C": 2.0}
    with pytest.warns(CacheWarning, match=r"\[2\]"):  # the cut line stays damaged; the new record is intact
        assert PointCache(path).records == {"a": {"C": 1.0}, "b": {"C": 2.0}}
