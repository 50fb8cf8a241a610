"""Mutation testing of tmesim's core modules with cosmic-ray (outside the default test run).

    pip install -e '.[mutation]'
    python tools/mutation.py                      # every module below, 60 sampled mutants each
    python tools/mutation.py --sample 0 scenario  # every mutant of one module
    python tools/mutation.py --json report.json

Each module is mutated in a copy of the working tree (cosmic-ray edits the
source in place), and each mutant is tested only with the fast test files that
exercise that module (``MODULES``), one pytest process per mutant. The
compiled modules (``biology/``, ``wellmixed/model.py``) are tested with
``NUMBA_DISABLE_JIT=1``: with numba on, every mutant would recompile the
model (about a minute each). A module holds hundreds to thousands of mutants
(biology/ ~5,000, model.py ~3,200), so by default a random sample of each
(fixed seed) is run; the score is killed / (killed + survived), where a
mutant that times out or cannot be imported counts as killed. Results and
the survivors' diffs are printed and, with ``--json``, written out;
docs/testing.md records the latest run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOJIT = {"NUMBA_DISABLE_JIT": "1"}
#: Tests left out with numba off: the dispatcher-type check, and those that run a simulation (too slow uncompiled).
_NOJIT_K = "not documented_modules and not dataset_units and not solver_steps"
#: name -> (path under the repository, test files (pytest arguments), extra environment)
MODULES = {
    "biology": ("src/tmesim/biology", ["tests/unit/test_biology.py", "tests/unit/test_golden.py", "-k", _NOJIT_K], NOJIT),
    "model": ("src/tmesim/wellmixed/model.py",
              ["tests/unit/test_model_pools.py", "tests/unit/test_golden.py", "tests/unit/test_biology.py", "-k",
               _NOJIT_K], NOJIT),
    "scenario": ("src/tmesim/scenario.py", ["tests/unit/test_scenario.py", "tests/unit/test_bad_inputs.py"], {}),
    "loader": ("src/tmesim/params/loader.py", ["tests/unit/test_params.py", "tests/unit/test_bad_inputs.py"], {}),
    "findings": ("src/tmesim/reproduce/findings.py", ["tests/unit/test_reproduce.py", "tests/unit/test_golden.py"], {}),
    "summary": ("src/tmesim/analysis/summary.py", ["tests/unit/test_summary.py", "tests/unit/test_golden.py"], {}),
}
TIMEOUT_S = 120.0


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _pytest_command(tests: list[str]) -> str:
    quoted = " ".join(f"'{t}'" if " " in t else t for t in tests)
    return f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:xdist -p no:randomly {quoted}"


def run_module(name: str, work: Path, sample: int, seed: int) -> dict:
    path, tests, env_extra = MODULES[name]
    tests = [t for t in tests if t.startswith("-") or not t.endswith(".py") or (work / t).exists()]
    config = work / f"cr-{name}.toml"
    session = work / f"cr-{name}.sqlite"
    command = _pytest_command(tests).replace('"', '\\"')
    config.write_text(f"""[cosmic-ray]
module-path = "{path}"
timeout = {TIMEOUT_S}
excluded-modules = []
test-command = "{command}"

[cosmic-ray.distributor]
name = "local"
""")
    env = dict(os.environ, PYTHONPATH=str(work / "src"), **env_extra)
    baseline = subprocess.run(_pytest_command(tests), shell=True, cwd=work, env=env, capture_output=True, text=True)
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail without a mutant:\n{baseline.stdout[-2000:]}")
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=work, env=env, check=True,
                   capture_output=True)
    db = sqlite3.connect(session)
    # in source order (job ids are random), so that an unchanged module gets the same sample every run
    jobs = [row[0] for row in db.execute("""select job_id from mutation_specs order by module_path, start_pos_row,
                                            start_pos_col, operator_name, occurrence""")]
    total = len(jobs)
    if sample and sample < total:
        keep = set(random.Random(seed).sample(jobs, sample))
        drop = [(j,) for j in jobs if j not in keep]
        db.executemany("delete from mutation_specs where job_id = ?", drop)
        db.executemany("delete from work_items where job_id = ?", drop)
        db.commit()
    db.close()
    start = time.monotonic()
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=work, env=env, check=True,
                   capture_output=True)
    elapsed = time.monotonic() - start
    db = sqlite3.connect(session)
    rows = db.execute("""select s.module_path, s.start_pos_row, s.operator_name, s.definition_name, r.worker_outcome,
                                r.test_outcome, r.diff
                         from mutation_specs s join work_results r on s.job_id = r.job_id""").fetchall()
    db.close()
    outcome = {"killed": 0, "survived": 0, "incompetent": 0, "timeout": 0, "error": 0}
    survivors = []
    for module, line, operator, definition, worker, test, diff in rows:
        worker, test = str(worker).lower(), str(test).lower()
        if worker == "timeout":
            outcome["timeout"] += 1
        elif worker != "normal":
            outcome["error"] += 1
        elif test == "survived":
            outcome["survived"] += 1
            survivors.append({"file": module, "line": line, "operator": operator, "in": definition,
                              "diff": "\n".join(l for l in (diff or "").splitlines() if l.startswith(("-", "+"))
                                                and not l.startswith(("---", "+++")))})
        elif test == "incompetent":
            outcome["incompetent"] += 1
        else:
            outcome["killed"] += 1
    dead = outcome["killed"] + outcome["incompetent"] + outcome["timeout"]
    tested = dead + outcome["survived"]
    return {"module": name, "path": path, "tests": tests, "mutants_in_module": total, "tested": tested,
            **outcome, "score": dead / tested if tested else float("nan"), "seconds": round(elapsed, 1),
            "survivors": sorted(survivors, key=lambda s: (s["file"], s["line"]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules (default: all): {', '.join(MODULES)}")
    parser.add_argument("--sample", type=int, default=60, help="mutants per module (0: all)")
    parser.add_argument("--seed", type=int, default=20, help="seed of the sample")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if shutil.which("cosmic-ray") is None:
        raise SystemExit("cosmic-ray is not installed: pip install -e '.[mutation]'")
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; known: {', '.join(MODULES)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="tmesim-mutation-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        for name in names:
            res = run_module(name, work, args.sample, args.seed)
            results.append(res)
            print(f"{name}: {res['tested']} of {res['mutants_in_module']} mutants, score {res['score']:.0%} "
                  f"(killed {res['killed']}, incompetent {res['incompetent']}, timeout {res['timeout']}, "
                  f"survived {res['survived']}, errors {res['error']}) in {res['seconds']:.0f} s", flush=True)
            for s in res["survivors"]:
                print(f"  survived {s['file']}:{s['line']} {s['operator']} in {s['in']}\n    "
                      + s["diff"].replace("\n", "\n    "))
    dead = sum(r["killed"] + r["incompetent"] + r["timeout"] for r in results)
    tested = sum(r["tested"] for r in results)
    print(f"total: {dead} of {tested} mutants killed ({dead / max(tested, 1):.0%})")
    if args.json:
        args.json.write_text(json.dumps({"sample": args.sample, "seed": args.seed, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
