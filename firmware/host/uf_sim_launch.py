"""Child process of pipeline.host's sim backend: build the build's wrapper RTL with cocotb.runner and run the
uf_sim_server cocotb test (which connects back to the host).  Arguments: one JSON object in argv[1]:
  {"fsic": "<build>/fsic", "sim": "icarus"|"verilator", "work": dir, "env": {...}}
Runs in its own process group so the host can kill a stuck simulation."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def main(argv):
    a = json.loads(argv[1])
    fsic, work = Path(a["fsic"]), Path(a["work"])
    # cocotb.runner hands sys.path to the simulator as PYTHONPATH
    for d in [str(HERE), str(REPO / "fsic_wrapper" / "sim"), str(REPO)] + list(a.get("pythonpath", [])):
        if d not in sys.path:
            sys.path.insert(0, d)
    from cocotb.runner import get_results, get_runner

    srcs = sorted((fsic / "rtl").glob("*.v")) + sorted((fsic / "sim").glob("*.v"))
    runner = get_runner(a["sim"])
    build_dir = work / f"sim_{a['sim']}"
    build_args = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED"] if a["sim"] == "verilator" else []
    runner.build(verilog_sources=srcs, includes=[fsic / "rtl"], hdl_toplevel="USER_PRJ0", build_dir=build_dir,
                 build_args=build_args, always=False)
    env = {"UF_BUILD_JSON": str(fsic / "python" / "unet_fsic_build.json")}
    env.update(a.get("env", {}))
    xml = runner.test(hdl_toplevel="USER_PRJ0", test_module="uf_sim_server", testcase=["serve"],
                      build_dir=build_dir, test_dir=work, extra_env=env)
    total, failed = get_results(Path(xml))
    return 0 if total == 1 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
