"""Dataflow simulation and FIFO sizing on a small skip-connection graph (pipeline.hw.fifo_sim). ~2 s."""
import pytest

from pipeline.hw.fifo_sim import INF, Deadlock, simulate, size_fifos, skip_graph


@pytest.mark.parametrize("args", [(8, 8, 2, 2), (16, 16, 4, 1), (8, 8, 1, 8)])
def test_skip_graph_deadlocks_small_runs_estimated(args):
    g = skip_graph(*args)
    r = size_fifos(g, minimize=True)
    assert r["culprits"] == ["clone_out1"]  # the skip FIFO is the one that needs depth
    simulate(g, r["depths"])  # runs with the estimated depths
    # every FIFO at depth 2 (what an unsized design would get): deadlock, with the skip FIFO full
    with pytest.raises(Deadlock) as e:
        simulate(g, {f: 2 for f in g.fifos})
    assert ("clone", "write", "clone_out1") in e.value.blocked
    # one entry less than the estimated skip depth deadlocks
    small = dict(r["depths"], clone_out1=r["depths"]["clone_out1"] - 1)
    with pytest.raises(Deadlock):
        simulate(g, small)
    # hls4ml's default (a full feature map per FIFO) runs
    simulate(g, {f: g.fifos[f].default_depth for f in g.fifos})


def test_simulation_cycle_counts_hand_computed():
    # chain source -> conv 1x1 (ii=3) -> sink on 4x4: the source's first pixel is visible at cycle 1, the conv
    # (bottleneck) reads at 1, 4, ..., 46, its last pixel is visible at 46 + lat 5 = 51, the sink reads it at 51:
    # the frame ends after cycle 51 -> 52
    from pipeline.hw.fifo_sim import Graph

    g = Graph()
    (a,) = g.add("src", "source", pixels=16)
    (b,) = g.add("conv", "conv", [a], h=4, w=4, k=1, ii=3, lat=5)
    g.add("sink", "sink", [b], pixels=16)
    r = simulate(g, {f: INF for f in g.fifos})
    assert r.busy["conv"] == 48
    assert r.cycles == 52
