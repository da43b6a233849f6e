"""benchmarks/gpu_session.sh, the prepared GPU session: it parses, and refuses an unknown stage in one line.
(Its stages run end to end on a CPU with --dry-run, which takes minutes: see docs/results.md.)"""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_session.sh"


def test_the_script_parses_and_names_its_stages_when_given_none(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    done = subprocess.run(["bash", str(SCRIPT), "dance"], capture_output=True, text=True, env={"OUT": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.startswith("usage: benchmarks/gpu_session.sh prepare") and done.stderr.count("\n") == 1
    assert "measure" in done.stderr and "pixels" in done.stderr and "tune" in done.stderr
