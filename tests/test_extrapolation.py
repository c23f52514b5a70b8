"""transportbench.extrapolation: the polynomial in 1/W through finite-width results, at 1/W = 0."""

import numpy as np
import pytest

from transportbench.extrapolation import inverse_width_weights, to_wide_band


def test_polynomials_in_the_inverse_width_are_extrapolated_exactly():
    widths = [50.0, 100.0, 200.0]
    linear = [3.0 + 7.0 / w for w in widths[:2]]
    quadratic = [np.array([1.0, -2.0]) + 5.0 / w - 40.0 / w**2 for w in widths]
    assert to_wide_band(linear, widths[:2]) == pytest.approx(3.0, rel=1e-14)
    assert np.allclose(to_wide_band(quadratic, widths), [1.0, -2.0], rtol=0, atol=1e-12)
    assert inverse_width_weights([1.0, 2.0]).sum() == pytest.approx(1.0)  # a constant stays itself
    assert inverse_width_weights([93.3, 186.6]).tolist() == pytest.approx([-1.0, 2.0])  # x2 + (x2 - x1) W1/(W2 - W1)


def test_bad_widths_are_named():
    for widths in ([100.0], [100.0, 100.0], [100.0, -50.0], [100.0, float("inf")]):
        with pytest.raises(ValueError, match="distinct finite positive widths"):
            inverse_width_weights(widths)
    with pytest.raises(ValueError, match="one value per width"):
        to_wide_band([1.0], [1.0, 2.0])
