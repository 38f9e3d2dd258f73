"""The estimator's calibration (pipeline/hw/calibration.py, issue #13): every error figure is computed by the code
from the fixture of published hls4ml builds (pipeline/hw/calibration_points.yaml) -- the committed
calibration_error.json, the tables in the docs and the estimator's EXPECTED_ERROR / fitted constants are checked
against a fresh computation -- plus sanity checks of the mapping rules against what the vendor reports show. Fast
(no TensorFlow)."""
import json
import re

import pytest

from pipeline.hw import calibration as C
from pipeline.hw import estimator as E

REQUIRED_REPOS = {"seanlipps/ECE226_CoDesign", "kojos03/fpga_cnn_hls4ml", "lolbraa/HLS4ML_testbench_KV260",
                  "Liu-Zhiheng/hls4ml-pynqz2-vivado2019-2-results", "abdennour-GUESSOUM/Lenet5-hls4ml",
                  "fastmachinelearning/hls4ml"}


@pytest.fixture(scope="module")
def points():
    return C.load_points()


@pytest.fixture(scope="module")
def table(points):
    return json.loads(json.dumps(C.error_table(points)))  # as the JSON file holds it


def test_fixture_has_at_least_six_sourced_points(points):
    assert len(points) >= 6
    assert REQUIRED_REPOS <= {p["source"]["repo"] for p in points}
    for p in points:
        src = p["source"]
        assert src["repo"] and src["hls"]["path"] and re.fullmatch(r"[0-9a-f]{40}", src["hls"]["commit"]), p["id"]
        if "vivado" in p["reported"]:
            assert src["vivado"]["path"] and re.fullmatch(r"[0-9a-f]{40}", src["vivado"]["commit"]), p["id"]
            assert p["reported"]["vivado"]["stage"], p["id"]
        assert p["part"] and p["hls_tool"] and p["layers"], p["id"]
    assert sum(1 for p in points if "vivado" in p["reported"]) >= 5


def test_committed_error_table_is_what_the_code_computes(table):
    assert json.loads(C.ERROR_FILE.read_text()) == table


def test_estimator_uses_the_measured_error_and_the_fitted_constants(table, points):
    assert E.EXPECTED_ERROR == table["expected_error"]
    assert E.FIT == table["constants"] == C.fit_constants(points)
    x = table["expected_error"]
    assert x["points"] == len(points) and x["method"]
    # EXPECTED_ERROR is the largest leave-one-out error of the Vivado equivalent (resources) / csynth interval
    for q in ("LUT", "FF", "BRAM36", "DSP"):
        errs = [abs(e["error"]["vivado"][q]) for e in table["points"] if "vivado" in e["error"]]
        assert x[q] == max(errs)
    assert x["cycles"] == max(abs(e["error"]["hls"]["interval"]) for e in table["points"]
                              if "interval" in e["error"]["hls"])
    assert f"{len(points)} published hls4ml builds" in E.PROVENANCE


@pytest.mark.parametrize("doc", [d for d in C.DOC_TABLES if d.exists() and C.BEGIN in d.read_text()])
def test_docs_show_the_computed_table(doc, table):
    text = doc.read_text()
    block = text[text.index(C.BEGIN) + len(C.BEGIN):text.index(C.END)].strip("\n")
    assert block == C.markdown(table).strip("\n"), f"{doc}: run python -m pipeline.hw.calibration --write"
    # and, parsed: every overall row carries the computed median / max error
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()
            if line.startswith("| csynth |") or line.startswith("| Vivado |")]
    level = {"csynth": "hls", "Vivado": "vivado"}
    assert len(rows) == sum(len(v) for v in table["overall"].values())
    for name, q, n, med, mx, _ in rows:
        o = table["overall"][level[name]][q]
        assert (int(n), med, mx) == (o["n"], f"{o['median_abs']:.0%}", f"{o['max_abs']:.0%}")


def test_both_docs_carry_the_table():
    for doc in C.DOC_TABLES[:2]:
        assert C.BEGIN in doc.read_text() and C.END in doc.read_text(), doc


def test_leave_one_out_excludes_the_point(points):
    """A point's prediction uses constants fitted without it: the two wrapper points predict each other."""
    liu = next(p for p in points if p["id"].startswith("liu"))
    others = [p for p in points if p is not liu]
    lol = next(s for p in others for s in p["layers"] if s["kind"] == "wrapper")
    assert C.fit_constants(others)["WRAPPER_LUT"] == lol["hls"]["LUT"]
    assert C.fit_constants(points)["WRAPPER_LUT"] != lol["hls"]["LUT"]


def test_model_point_is_the_estimators_code(points):
    p = next(p for p in points if p["id"].startswith("kojos"))
    m = C.model_point(p)
    assert m["rows"] == [E.compute_layer(s, p["strategy"]) for s in p["layers"]]
    t = E.design_totals(m["rows"], C._fifos(p))
    assert {k: m["hls"][k] for k in ("LUT", "FF", "BRAM36", "DSP")} == t["hls"] and m["vivado"] == t["vivado"]


# --- sanity checks of the rules against the reports -------------------------------------------------------------------
def test_multiplier_binding():
    # LeNet-5 (8x8), HGQ2 (4-bit data), our W5A8 U-Net (5x8) -> LUTs; 16x16 (every 16-bit point) -> DSP48E1
    assert E.mult_cost(8, 5, 1)["mapping"] == "LUT" and E.mult_cost(8, 5, 1)["DSP"] == 0
    assert E.mult_cost(8, 8, 1, constant_weights=True)["mapping"] == "LUT"
    assert E.mult_cost(16, 16, 1)["mapping"] == "DSP48E1" and E.mult_cost(16, 16, 1)["DSP"] == 1


def test_fifo_mapping():
    # Vivado: a depth-2 FIFO is SRL (one LUT per bit, no BRAM), a depth-1 one registers (seanlipps: LUT as memory 0),
    # a 4096 x 64 one BRAM (16 BRAM18 in the 4096 x 4 aspect ratio), 128 x 256 (seanlipps) 4 RAMB36
    srl = E.fifo_cost(2, 8, 1)
    assert srl["BRAM18"] == 0 and srl["LUT"] >= 8
    reg = E.fifo_cost(1, 256, 1)
    assert reg["BRAM18"] == 0 and reg["FF"] >= 256 and reg["LUT"] < 256
    assert E.fifo_cost(4096, 64, 1)["BRAM18"] == 16
    assert E.fifo_cost(128, 256, 1)["BRAM18"] == 8
    assert E.fifo_cost(36, 148, 1)["BRAM18"] == 0  # kojos: 36-deep FIFOs became LUTRAM
    # csynth: SRL up to depth 2 or 1024 bits, else ceil(width / 18) BRAM_18K per 1024 deep
    assert E.fifo_cost_hls(2, 2048, 1)["BRAM18"] == 0 and E.fifo_cost_hls(128, 8, 1)["BRAM18"] == 0
    assert E.fifo_cost_hls(16, 128, 1)["BRAM18"] == 8 and E.fifo_cost_hls(676, 1184, 1)["BRAM18"] == 66


def test_csynth_fifo_bram_rule_matches_the_reports(points):
    """The csynth FIFO BRAM rule reproduces every point's reported FIFO BRAM_18K, except seanlipps' (its two
    128 x 256 FIFOs are reported at 8 BRAM_18K each, the rule says 15)."""
    for p in points:
        rep = p["reported"]["hls"].get("fifo")
        if rep is None:
            continue
        got = sum(E.fifo_cost_hls(q["depth"], q["bits"], q["channels"], q["aggregate"])["BRAM18"] for q in C._fifos(p))
        if p["id"].startswith("seanlipps"):
            assert got == rep["BRAM18"] + 2 * (15 - 8)
        else:
            assert got == rep["BRAM18"], p["id"]


def test_conv1d_is_a_1xk_kernel_and_kxk_is_unchanged():
    base = {"name": "c", "kind": "conv", "cin": 9, "cout": 16, "rf": 4, "w_bits": 5, "a_bits": 8, "acc_bits": 21}
    c1 = E.compute_layer({**base, "in_hw": (1, 130), "out_hw": (1, 128), "kh": 1, "kw": 3})
    assert c1["n_in"] == 27 and c1["rf"] == 3  # RF 4 is not valid for 27 x 16: hls4ml's closest is 3
    assert c1["px_in"] == 130 and c1["cycles"] == 130 * 3
    assert c1["FF"] == E.LAYER_FF + c1["mults"] * (13 + 21) + 3 * 9 * 8  # 1 x 3 window, no line buffer rows
    sq = E.compute_layer({**base, "in_hw": (16, 16), "out_hw": (16, 16), "k": 3, "pad": 2})
    assert sq == E.compute_layer({**base, "in_hw": (16, 16), "out_hw": (16, 16), "kh": 3, "kw": 3, "pad": 2})


def test_vivado_and_csynth_dsp_counts_agree_in_the_reports(points):
    """Why the Vivado DSP count is the csynth one times a ratio near 1: in every point with both numbers the two
    differ by at most 10 %."""
    for p in points:
        v, h = p["reported"].get("vivado"), p["reported"]["hls"]
        if v and h["DSP"]:
            assert abs(v["DSP"] / h["DSP"] - 1) <= 0.1, p["id"]
