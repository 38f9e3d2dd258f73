"""Verification-only C simulation of the *generated* project with bounded FIFOs, one thread per dataflow process.

hls4ml's C simulation calls the layers of the io_stream top function one after another over unbounded streams, so it
can never see a FIFO that is too shallow. This one compiles the same generated code differently:

* :func:`pipeline.hls.fifo_depths.parse_top` reads ``hls/firmware/<project>.cpp`` as hls4ml wrote it: the top's
  ports, every inter-layer ``hls::stream`` with its ``#pragma HLS STREAM ... depth=D``, every layer call of the
  ``DATAFLOW`` region and the weight-loading block. Anything else in that region is an error (no silent guessing).
* :func:`generate` writes a top (``<project>_threaded.cpp``) that declares the same streams, sets each to its pragma
  depth, and runs every layer call in its own ``std::thread`` (``frames`` calls each, as a dataflow process does),
  plus an AXI-stream feeder and drain. It compiles with g++ ``-pthread`` against our ``hls::stream`` stand-in
  (``threaded/hls_stream.h``: read blocks while empty, write blocks while full) and the project's own kernels,
  config and weights (``threaded/fsic_dataflow.h``: threads, exact deadlock detection, watchdog).
* :func:`run` feeds frames through it. The processes are deterministic and use blocking reads and writes only (a
  Kahn process network; bounded FIFOs keep it one), so *whether* the run completes does not depend on the thread
  schedule: a run that completes proves the depths deadlock-free for these kernels; one that deadlocks is stopped
  and reported with its full / empty FIFOs and blocked processes (:class:`BoundedRun`). ``depths`` overrides
  pragma depths at run time (tests make a FIFO too shallow without rebuilding).
* :func:`verify` does all of it for a converted project and compares with the Keras golden bit for bit (the logits,
  recorded on the logits stream, and the IP's output).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from .fifo_depths import TopFunction, read_top

HEADERS = Path(__file__).with_name("threaded")  # hls_stream.h (stand-in) + fsic_dataflow.h
PORT_DEPTH = 2  # the AXI-stream ports' FIFOs in the simulation (fed / drained by their own threads)
OPT = "-O1"  # compile time matters more than speed here (small model: -O1 26 s / 0.02 s per frame, -O2 41 s)
DEADLOCK, STALLED = 3, 4  # exit statuses of the simulator: every process blocked / no token moved for watchdog_s
WATCHDOG_S = 30.0  # no token moved anywhere for this long: stalled (deadlocks are detected exactly, at once)

# --- the generated threaded top ----------------------------------------------------------------------------------
_MAIN = r"""
int main(int argc, char **argv) {
    // argv: input.bin output.bin frames report.json watchdog_s tap_name tap.bin [NAME=DEPTH ...]
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s in.bin out.bin frames report.json watchdog_s tap tap.bin [NAME=DEPTH...]\n",
                     argv[0]);
        return 2;
    }
    const int frames = std::atoi(argv[3]);
    fsic_df::rt().report_path = argv[4];
    const double watchdog_s = std::atof(argv[5]);
    fsic_df::rt().tap_name = std::string(argv[6]) == "-" ? "" : argv[6];
    for (int i = 8; i < argc; i++) {
        std::string a = argv[i];
        size_t eq = a.find('=');
        fsic_df::rt().depth_override[a.substr(0, eq)] = std::strtoul(a.c_str() + eq + 1, 0, 10);
    }
    std::vector<double> x((size_t)frames * IN_SIZE), y((size_t)frames * OUT_SIZE);
    FILE *f = std::fopen(argv[1], "rb");
    if (!f || std::fread(x.data(), sizeof(double), x.size(), f) != x.size()) {
        std::fprintf(stderr, "cannot read %zu input values from %s\n", x.size(), argv[1]);
        return 2;
    }
    std::fclose(f);
    load_weights();
    auto t0 = std::chrono::steady_clock::now();
    IN_PORT
    OUT_PORT
    fsic_df::Dataflow df;
    df.add("axis_in", [&] {
        for (int k = 0; k < frames; k++) {
            fsic_df::current->frame.store(k);
            nnet::convert_data<double, IN_T, IN_SIZE>(&x[(size_t)k * IN_SIZE], IN_NAME);
        }
    });
    df.add("axis_out", [&] {
        for (int k = 0; k < frames; k++) {
            fsic_df::current->frame.store(k);
            nnet::convert_data<OUT_T, double, OUT_SIZE>(OUT_NAME, &y[(size_t)k * OUT_SIZE]);
        }
    });
    network(df, IN_NAME, OUT_NAME, frames, watchdog_s);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    f = std::fopen(argv[2], "wb");
    std::fwrite(y.data(), sizeof(double), y.size(), f);
    std::fclose(f);
    if (!fsic_df::rt().tap_name.empty()) {
        f = std::fopen(argv[7], "wb");
        std::fwrite(fsic_df::rt().tap.data(), sizeof(double), fsic_df::rt().tap.size(), f);
        std::fclose(f);
    }
    std::printf("{\"frames\": %d, \"wall_s\": %.6f, \"tokens_moved\": %llu}\n", frames, wall,
                (unsigned long long)fsic_df::rt().progress.load());
    return 0;
}
"""


def generate(top: TopFunction, in_size: int, out_size: int) -> str:
    """C++ source of the threaded top for ``top`` (``in_size`` / ``out_size``: scalars per frame on the ports)."""
    (in_t, in_n), (out_t, out_n) = top.inputs[0], top.outputs[0]
    src = [f"// Generated by pipeline/hls/threaded_csim.py from firmware/{top.project}.cpp: VERIFICATION ONLY",
           "// (every dataflow process in a thread, every stream bounded at its STREAM pragma depth).",
           '#include "hls_stream.h"  // the bounded stand-in, before anything includes hls4ml\'s',
           '#include "fsic_dataflow.h"', "#include <chrono>", "#include <cstdio>", "#include <vector>",
           *top.includes, "",
           "namespace nnet {", "bool trace_enabled = false;", "std::map<std::string, void *> *trace_outputs = NULL;",
           "size_t trace_type_size = sizeof(double);", "}  // namespace nnet", "",
           f"#define IN_SIZE {in_size}", f"#define OUT_SIZE {out_size}", f"#define IN_T {in_t}",
           f"#define OUT_T {out_t}", f"#define IN_NAME {in_n}", f"#define OUT_NAME {out_n}",
           f'#define IN_PORT hls::stream<{in_t}> {in_n}("{in_n}"); {in_n}.set_depth({PORT_DEPTH});',
           f'#define OUT_PORT hls::stream<{out_t}> {out_n}("{out_n}"); {out_n}.set_depth({PORT_DEPTH});', "",
           "static void load_weights() {", top.weights, "}", "",
           f"static void network(fsic_df::Dataflow &df, hls::stream<{in_t}> &{in_n}, hls::stream<{out_t}> &{out_n}, "
           "int frames, double watchdog_s) {"]
    for t, n, d in top.streams:
        src.append(f'    hls::stream<{t}> {n}("{n}");')
        src.append(f"    {n}.set_depth({d});")
    for name, stmts in top.processes:
        body = " ".join(stmts)
        src.append(f'    df.add("{name}", [&] {{\n        for (int k = 0; k < frames; k++) {{\n'
                   f"            fsic_df::current->frame.store(k);\n            {body}\n        }}\n    }});")
    src += ["    df.run(watchdog_s);", "}", _MAIN]
    return "\n".join(src) + "\n"


def build(hls_dir: Path, project: str, work: Path, in_size: int, out_size: int, log: Path | None = None) -> Path:
    """Generate and compile the threaded simulator of the project in ``hls_dir`` into ``work``; returns the
    executable. g++'s output goes to ``log`` (default ``work/compile.log``)."""
    hls_dir, work = Path(hls_dir).resolve(), Path(work).resolve()  # absolute: run() executes it from its own dir
    work.mkdir(parents=True, exist_ok=True)
    top = read_top(hls_dir, project)
    cpp, exe, fw = work / f"{project}_threaded.cpp", work / f"{project}_threaded", hls_dir / "firmware"
    src = generate(top, in_size, out_size)
    inputs = [p for p in fw.rglob("*") if p.is_file()] + list(HEADERS.glob("*.h"))
    if exe.is_file() and cpp.is_file() and cpp.read_text() == src and \
            exe.stat().st_mtime > max(p.stat().st_mtime for p in inputs):
        return exe  # built from this very source and these headers
    cpp.write_text(src)
    exe.unlink(missing_ok=True)
    cmd = ["g++", OPT, "-std=c++17", "-pthread", f"-I{HEADERS}", f"-I{fw}", f"-I{fw / 'ap_types'}",
           f'-DWEIGHTS_DIR="{fw / "weights"}"', str(cpp), "-o", str(exe)]
    log = Path(log or work / "compile.log")
    with open(log, "a") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise UserError(f"g++ could not compile the threaded C simulation {cpp} (see {log})")
    return exe


@dataclass
class BoundedRun:
    """One run of the threaded simulator. ``completed``: every process finished every frame. Otherwise
    ``status`` is 'deadlock' (every unfinished process blocked: exact) or 'stalled' (no token moved for the
    watchdog time), and ``report`` holds every process's state and every FIFO's occupancy; ``full_fifos`` /
    ``blocked`` name the culprits."""
    completed: bool
    status: str
    frames: int
    wall_s: float
    outputs: np.ndarray | None = None
    tap: np.ndarray | None = None
    report: dict = field(default_factory=dict)
    stderr: str = ""

    @property
    def full_fifos(self) -> list[str]:
        return [s["name"] for s in self.report.get("streams", []) if s["full"] and s["depth"]]

    @property
    def blocked(self) -> dict:
        """process -> (state, stream) for every blocked process."""
        return {p["name"]: (p["state"], p["stream"]) for p in self.report.get("processes", [])
                if p["state"].startswith("blocked")}


def run(exe: Path, x: np.ndarray, depths: dict | None = None, tap: str | None = None,
        watchdog_s: float = WATCHDOG_S, timeout_s: float | None = None) -> BoundedRun:
    """Run frames ``x`` (``(frames, ...)`` input values) through the threaded simulator ``exe``. ``depths``: stream
    name -> depth overriding the STREAM pragmas; ``tap``: a stream whose tokens are returned (``.tap``, one row per
    frame). ``timeout_s`` (default generous) only guards against a broken simulator: hangs are the watchdog's job."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[0]
    with tempfile.TemporaryDirectory(prefix="bounded-csim-") as td:
        td = Path(td)
        x.tofile(td / "in.bin")
        args = [str(Path(exe).resolve()), str(td / "in.bin"), str(td / "out.bin"), str(n), str(td / "report.json"),
                str(watchdog_s), tap or "-", str(td / "tap.bin")] + [f"{k}={int(v)}" for k, v in (depths or {}).items()]
        t0 = time.time()
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s or 600 + 120 * n,
                           cwd=str(Path(exe).parent))
        wall = time.time() - t0
        if p.returncode == 0:
            stats = json.loads(p.stdout.strip().splitlines()[-1])
            out = np.fromfile(td / "out.bin", dtype=np.float64).reshape(n, -1)
            tp = np.fromfile(td / "tap.bin", dtype=np.float64).reshape(n, -1) if tap else None
            return BoundedRun(True, "completed", n, stats["wall_s"], out, tp, stats, p.stderr)
        if p.returncode in (DEADLOCK, STALLED) and (td / "report.json").is_file():
            rep = json.loads((td / "report.json").read_text())
            return BoundedRun(False, "deadlock" if p.returncode == DEADLOCK else "stalled", n, wall, report=rep,
                              stderr=p.stderr)
        raise RuntimeError(f"threaded C simulation {exe} failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")


def culprits(res: BoundedRun, record: dict | None) -> list[str]:
    """The FIFOs a deadlock is blamed on: full, their writer blocked writing them, and their reader (from the
    project's ``fifo_depths.json``) blocked reading another, empty FIFO -- the skip-connection pattern (else every
    full FIFO a writer is blocked on). Of those, the ones whose writer is on the earliest frame: with frames in
    flight, a skip FIFO upstream of the real culprit fills up with the next frame as a consequence."""
    blocked = res.blocked
    frame = {p["name"]: p["frame"] for p in res.report.get("processes", [])}
    reader = {r["stream"]: r["reader"] for r in (record or {}).get("streams", [])}
    writer = {on: p for p, (st, on) in blocked.items() if st == "blocked writing"}
    full = [s for s in res.full_fifos if s in writer]
    skip = [s for s in full if blocked.get(reader.get(s), ("", s))[0] == "blocked reading"
            and blocked[reader[s]][1] != s] or full
    first = min((frame[writer[s]] for s in skip), default=0)
    return [s for s in skip if frame[writer[s]] == first]


def verify(conversion, images_u8, work: Path, depths: dict | None = None, watchdog_s: float = WATCHDOG_S,
           log: Path | None = None) -> dict:
    """Build the threaded simulator of ``conversion``'s written project (in ``work``), run ``images_u8`` through it
    and compare with the Keras golden bit for bit: the logits (recorded on the logits layer's stream) and the IP's
    output (the argmax class map, or the logits). Returns a JSON-able report; ``completed`` False names the
    deadlock's ``culprits`` by stream and estimator FIFO."""
    from ..hw.streams import csim_input
    from .cmodel import keras_layer_outputs, logits_layer_name
    from .fifo_depths import load_report

    hm, km = conversion.hls_model, conversion.keras_model
    hls_dir, project = Path(hm.config.get_output_dir()), hm.config.get_project_name()
    iv, ov = hm.get_input_variables()[0], hm.get_output_variables()[0]
    t0 = time.time()
    exe = build(hls_dir, project, work, int(np.prod(iv.shape)), int(np.prod(ov.shape)), log)
    t_build = time.time() - t0
    logits = logits_layer_name(km)
    x = csim_input(images_u8)
    res = run(exe, x.reshape(len(x), -1), depths, tap=hm.graph[logits].get_output_variable().name,
              watchdog_s=watchdog_s)
    record = load_report(hls_dir)
    fifo_of = {r["stream"]: r["fifo"] for r in (record or {}).get("streams", [])}
    depth_of = read_top(hls_dir, project).depths
    rep = {"completed": res.completed, "status": res.status, "frames": res.frames, "compile_s": round(t_build, 2),
           "wall_s": round(res.wall_s, 3), "s_per_frame": round(res.wall_s / res.frames, 4),
           "depths": {s: (depths or {}).get(s, d) for s, d in depth_of.items()},
           "skip_fifos": [r["stream"] for r in (record or {}).get("streams", []) if r.get("skip")],
           "tool": "threaded bounded-FIFO C simulation (g++ -pthread; pipeline/hls/threaded_csim.py)"}
    if not res.completed:
        bad = culprits(res, record)
        rep.update(culprits=[{"stream": s, "fifo": fifo_of.get(s), "depth": rep["depths"].get(s)} for s in bad],
                   blocked=res.blocked, passed=False)
        return rep
    ref = np.asarray(keras_layer_outputs(km, x, [logits])[logits], np.float64)
    got = res.tap.reshape(ref.shape)
    out = res.outputs.reshape((len(x),) + tuple(ov.shape))
    want = np.argmax(ref, axis=-1)[..., None] if conversion.output_head == "argmax" else ref
    exact = np.all((got == ref).reshape(len(x), -1), axis=1) & np.all((out == want).reshape(len(x), -1), axis=1)
    rep.update(logits_bit_exact_fraction=float(np.mean(got == ref)), output_exact_fraction=float(np.mean(out == want)),
               frames_bit_exact=int(exact.sum()), passed=bool(exact.all()))
    return rep


def summary(rep: dict) -> str:
    """One line for the CLI and the report."""
    head = f"bounded csim ({rep['frames']} frames, every stream at its STREAM depth, one thread per process): "
    if rep["completed"]:
        return (head + f"completed, {rep['frames_bit_exact']}/{rep['frames']} frames bit-exact vs Keras, "
                f"{rep['s_per_frame']} s/frame")
    names = ", ".join(f"{c['stream']} ({c['fifo']}, depth {c['depth']})" for c in rep["culprits"])
    return head + f"{rep['status'].upper()} -- too shallow: {names}"
