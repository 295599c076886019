import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

from hddm.reporting.plots import Point, draw  # noqa: E402
from hddm.reporting.uncertainty import Uncertainty  # noqa: E402


def spread(value, std):
    return Uncertainty(value - std, value + std, f"± {std}", ("std",))


def bar_lengths(container: ErrorbarContainer) -> list[float]:
    (segments,) = container.lines[2]
    return [float(abs(s[1, 1] - s[0, 1])) for s in segments.get_segments() if len(s)]  # NaN: no segment


@pytest.fixture
def axes():
    figure, axes = plt.subplots()
    yield axes
    plt.close(figure)


def test_a_numeric_setting_draws_lines_with_error_bars_where_recorded(axes):
    draw(axes, {"top1": [Point(0.5, 2.0, spread(2.0, 0.3)), Point(0.2, 1.0, spread(1.0, 0.1))]})
    (container,) = [c for c in axes.containers if isinstance(c, ErrorbarContainer)]
    assert container.has_yerr and bar_lengths(container) == pytest.approx([0.2, 0.6])  # sorted by x: 0.2, 0.5
    assert list(container.lines[0].get_xdata()) == [0.2, 0.5]


def test_a_categorical_setting_draws_bars_with_error_bars_and_none_without_uncertainty(axes):
    draw(axes, {"tau=0.2": [Point("top1", 3.0, spread(3.0, 0.5)), Point("full", 4.0, None)]})
    (bars,) = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [b.get_height() for b in bars] == [4.0, 3.0]  # categories sorted: full, top1
    assert bar_lengths(bars.errorbar) == pytest.approx([1.0])  # only top1 recorded one
    figure, plain = plt.subplots()
    draw(plain, {"fid": [Point(0.2, 10.0, None), Point(0.5, 11.0, None)]})
    (line,) = [c for c in plain.containers if isinstance(c, ErrorbarContainer)]
    assert not line.has_yerr and np.allclose(line.lines[0].get_ydata(), [10.0, 11.0])
    plt.close(figure)
