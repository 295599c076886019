"""The routing-source benchmark runs and reports every source for pixel experts, so its row cannot rot."""

import runpy
import sys

from conftest import REPO


def test_routing_sources_bench_measures_every_source(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    monkeypatch.setattr(sys, "argv", ["bench_routing_sources.py"])
    bench = runpy.run_path(str(REPO / "bench" / "bench_routing_sources.py"), run_name="routing_sources")
    result = bench["measure"]("tiny", 2, 1, 1)
    assert set(result["seconds"]) == {
        "one expert (cond + uncond)",
        "trained router",
        "2 density-ratio heads",
        "centroid routing (every step)",
    }
    assert (
        all(value > 0 for value in result["seconds"].values())
        and result["ratio_to_one_expert"]["one expert (cond + uncond)"] == 1.0
    )
