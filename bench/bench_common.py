"""What bench/compare.py and bench/aot_memory.py share: paths, the model list, process running, datasets."""
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_MODELS = ["bert-base", "convbert-base", "ibert-base", "gpt-neox", "vgg16", "efficientnet-b0", "resnet50",
                  "mobilenet-v2"]
MIB = 1024.0 * 1024.0


class BenchError(Exception):
    pass


def log(message):
    print(message, file=sys.stderr, flush=True)


def run_process(cmd, timeout):
    """Runs cmd (any path-like items); returns stdout, or raises BenchError with the tail of its output."""
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout} s: {' '.join(cmd)}")
    except OSError as e:
        raise BenchError(f"cannot run {cmd[0]}: {e}")
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise BenchError(f"{Path(cmd[0]).name} exited {proc.returncode}: {' | '.join(tail) or '(no output)'}")
    return proc.stdout


def dataset_dir(fluidml, name):
    """datasets/cache/NAME-seed0 (model.onnx, test_data_set_0), made with `fluidml datasets make NAME` when missing."""
    directory = ROOT / "datasets" / "cache" / f"{name}-seed0"
    if not (directory / "model.onnx").is_file() or not (directory / "test_data_set_0").is_dir():
        log(f"[{name}] making the dataset: {fluidml} datasets make {name}")
        run_process([fluidml, "datasets", "make", name], timeout=3600)
    if not (directory / "model.onnx").is_file():
        raise BenchError(f"`fluidml datasets make {name}` did not write {directory}/model.onnx")
    return directory
