"""foundation.settings (one precedence rule: option > settings file > environment > default) and the
`ttsr-bench` dispatcher (benchmarks.cli)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cli
from foundation import settings
from foundation.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty working folder and none of the suite's environment variables."""
    for name in settings.ENV.values():
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _file(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_data_root_each_source_wins_over_the_ones_below(home, monkeypatch):
    assert settings.resolve().data_root is None  # nothing anywhere: no data root (the runner uses the demo set)
    default = _folder(home / "data")
    assert (settings.resolve().data_root.resolve(), settings.resolve().data_named) == (default, False)
    env = _folder(home / "env-data")
    monkeypatch.setenv("TTSR_BENCH_DATA", str(env))
    assert (settings.resolve().data_root, settings.resolve().data_from) == (env, "$TTSR_BENCH_DATA")
    _folder(home / "file-data")
    _file(home / "ttsr-bench.toml", 'data_root = "file-data"\n')  # relative to the file's folder
    found = settings.resolve()
    assert found.data_root.resolve() == home / "file-data" and found.data_from == "ttsr-bench.toml data_root"
    option = _folder(home / "option-data")
    found = settings.resolve(data_root=str(option))
    assert (found.data_root, found.data_from, found.data_named) == (option, "--data-root", True)


def test_settings_file_option_then_environment_then_working_folder(home, monkeypatch):
    for name in ("a", "b", "c"):
        _folder(home / name)
    _file(home / "ttsr-bench.toml", 'data_root = "a"\n')
    env_file = _file(home / "env" / "s.toml", f'data_root = "{home / "b"}"\n')
    option_file = _file(home / "opt" / "s.toml", f'data_root = "{home / "c"}"\n')
    assert settings.resolve().data_root.resolve() == home / "a"
    monkeypatch.setenv("TTSR_BENCH_CONFIG", str(env_file))
    assert settings.resolve().data_root == home / "b"
    found = settings.resolve(settings_file=str(option_file))
    assert (found.file, found.data_root) == (option_file, home / "c")


def test_weights_named_files_then_folders(home, monkeypatch):
    option = _file(home / "opt.pt")
    in_file = _file(home / "ckpt" / "TTSR.pt")
    _file(home / "ttsr-bench.toml", '[weights]\nttsr = "ckpt/TTSR.pt"\nttsr-rec = "ckpt/TTSR.pt"\n')
    found = settings.resolve(weights=[f"ttsr={option}"])
    assert found.weights == {"ttsr": option, "ttsr-rec": Path("ckpt/TTSR.pt")} and in_file.is_file()
    assert found.weights_from == {"ttsr": "--weights", "ttsr-rec": "ttsr-bench.toml [weights]"}
    # the folders searched for the others: $TTSR_BENCH_WEIGHTS (in order), then ./weights
    first, second = _folder(home / "w1"), _folder(home / "w2")
    monkeypatch.setenv("TTSR_BENCH_WEIGHTS", f"{first}:{second}")
    assert settings.weight_dirs() == [first, second, Path("weights")]
    assert settings.weights_origin(second / "x.pt") == "$TTSR_BENCH_WEIGHTS"
    assert settings.weights_origin(Path("weights") / "x.pt") == "./weights"
    with pytest.raises(UserError, match=r"ttsr-bench.toml: \[weights\] ttsr-rec = 'ckpt/TTSR.pt': no such method"):
        settings.resolve(methods=_methods("ttsr"))
    # a method named in any case is keyed by its registered name, in the file and on the command line
    _file(home / "ttsr-bench.toml", '[weights]\nTTSR-Rec = "ckpt/TTSR.pt"\n')
    found = settings.resolve(weights=[f"TTSR={option}"], methods=_methods("ttsr", "ttsr-rec"))
    assert found.weights == {"ttsr": option, "ttsr-rec": Path("ckpt/TTSR.pt")}
    assert found.weights_from == {"ttsr": "--weights", "ttsr-rec": "ttsr-bench.toml [weights]"}
    (home / "ttsr-bench.toml").unlink()
    with pytest.raises(UserError, match=r"--weights names unknown method 'ttsr'"):
        settings.resolve(weights=[f"ttsr={option}"], methods=_methods("ttsr-rec"))


def _methods(*names: str):
    """A methods registry holding `names` (what `baselines.registry.METHODS` is to the commands)."""
    from foundation.registry import Registry

    registry = Registry("method", case_sensitive=False)
    for name in names:
        registry.register(name, name=name)
    return registry


def test_published_option_then_settings_file(home):
    _file(home / "ttsr-bench.toml", 'published = "sub/mine.toml"\n')
    found = settings.resolve(data=False)
    assert found.get("published", ["x.toml"]) == ["x.toml"]
    assert found.get("published") == [Path("sub/mine.toml")]  # relative to the file's folder (here .)
    _file(home / "ttsr-bench.toml", 'published = 3\n')
    with pytest.raises(UserError, match="published"):
        settings.resolve(data=False)


@pytest.mark.parametrize("where, call, expected", [
    ("--data-root", lambda h: settings.resolve(data_root=str(h / "nowhere")),
     r"^--data-root = '.*nowhere': folder not found"),
    ("$TTSR_BENCH_DATA", lambda h: settings.resolve(),
     r"^\$TTSR_BENCH_DATA = '.*nowhere': folder not found"),
    ("data_root", lambda h: settings.resolve(),
     r"ttsr-bench.toml: data_root = '.*nowhere': folder not found"),
    ("$TTSR_BENCH_WEIGHTS", lambda h: settings.weight_dirs(),
     r"^\$TTSR_BENCH_WEIGHTS: folder .*nowhere not found"),
    ("[weights]", lambda h: settings.resolve(),
     r"ttsr-bench.toml: \[weights\] ttsr = 'nowhere.pt': file not found"),
    ("--settings", lambda h: settings.resolve(settings_file=str(h / "nowhere.toml")),
     r"^settings file .*nowhere.toml not found \(from --settings\)"),
    ("$TTSR_BENCH_CONFIG", lambda h: settings.resolve(),
     r"^settings file .*nowhere.toml not found \(from \$TTSR_BENCH_CONFIG\)"),
])
def test_a_missing_named_folder_or_file_is_one_line(home, monkeypatch, where, call, expected):
    if where.startswith("$"):
        monkeypatch.setenv(where[1:], str(home / ("nowhere.toml" if "CONFIG" in where else "nowhere")))
    elif where == "data_root":
        _file(home / "ttsr-bench.toml", 'data_root = "nowhere"\n')
    elif where == "[weights]":
        _file(home / "ttsr-bench.toml", '[weights]\nttsr = "nowhere.pt"\n')
    with pytest.raises(UserError, match=expected) as caught:
        call(home)
    assert "\n" not in str(caught.value)


def test_a_weights_item_without_a_path_is_one_line():
    with pytest.raises(UserError, match=r"--weights 'ttsr': expected NAME=PATH"):
        settings.parse_weight_overrides(["ttsr"])


def test_the_environment_variables_are_named_once():
    """Every module reads its variable from the one table."""
    from baselines import registry
    from benchmarks import published
    from foundation import imageio

    assert registry.WEIGHTS_ENV == settings.ENV["weights"]
    assert published.ENV_VAR == settings.ENV["published"]
    assert imageio.MAX_PIXELS_ENV == settings.ENV["max_pixels"]
    literal = [p for p in REPO.glob("*/**/*.py") if "tests" not in p.parts and p.name != "settings.py"
               and any(f'"{name}"' in p.read_text(encoding="utf-8") for name in settings.ENV.values())]
    assert not literal, literal


# ------------------------------------------------------------------------------------- ttsr-bench

def test_dispatcher_runs_each_commands_main(home, capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS) and "$TTSR_BENCH_DATA" in out
    assert cli.main(["data", "sources"]) == 0
    assert "CUFED5" in capsys.readouterr().out
    assert cli.main(["data", "demo", "--out", str(home / "demo")]) == 0
    assert (home / "demo" / "hr").is_dir()
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'nope'" in err


def test_every_command_module_has_a_main():
    import importlib

    for name, (module, _) in cli.COMMANDS.items():
        assert callable(importlib.import_module(module).main), name


def test_console_script_and_python_m(home):
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"ttsr-bench": "benchmarks.cli:main"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "run", "--device", "tpu"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--device" in proc.stderr and "expected auto, cpu, cuda, cuda:N or mps" in proc.stderr


def test_run_seed_replaces_the_protocols_draw_seed_and_is_recorded(home):
    import json

    import fixture_runs
    from benchmarks import run

    data = fixture_runs.make_data_root(home / "data")
    base = ["--protocol", "table1", "--datasets", "sun80", "--methods", "bicubic", "--data-root", str(data),
            "--metrics", "psnr", "ssim", "--device", "cpu"]
    from benchmarks.runner.plan import RunSettings, make_plan

    def plan(argv):
        return make_plan(RunSettings(**vars(run.build_parser().parse_args(argv))).apply_file())

    assert [(e.seed, e.load_options["seed"]) for e in plan(base + ["--seed", "7"]).evaluations] == [(7, 7)]
    assert [e.seed for e in plan(base).evaluations] == [0]  # the protocol's own
    assert run.main(base + ["--seed", "7", "--out", str(home / "runs")]) == 0
    seeds = json.loads((home / "runs" / "manifest.json").read_text(encoding="utf-8"))["seeds"]
    assert seeds["torch"] == seeds["numpy"] == seeds["sun80/random"] == 7


def test_an_option_overrides_a_stale_file_value(home):
    """Option > file: a settings file naming a folder or weights file that no longer exists does not
    stop a command that names its own (the file's value is only checked when it is the one used)."""
    _file(home / "ttsr-bench.toml", 'data_root = "gone"\n[weights]\nttsr = "gone.pt"\n')
    (home / "sets").mkdir()
    (home / "mine.pt").write_bytes(b"x")
    found = settings.resolve(data_root=str(home / "sets"), weights=[f"ttsr={home / 'mine.pt'}"])
    assert found.data_root == home / "sets" and found.weights == {"ttsr": home / "mine.pt"}
    assert settings.resolve(data=False, weights=[f"ttsr={home / 'mine.pt'}"]).data_root is None
    with pytest.raises(UserError, match="ttsr-bench.toml: data_root = '.*gone': folder not found"):
        settings.resolve(weights=[f"ttsr={home / 'mine.pt'}"])


def _one_line_exit_2(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_run_names_where_a_bad_setting_came_from(home, monkeypatch, capsys):
    """Seeds outside 0…2³²−1, a device and published files from the settings file or the environment:
    one line naming the option, the file's key or the variable, before any work."""
    from benchmarks import run

    base = ["--protocol", "demo", "--methods", "bicubic", "--limit", "1", "--out", str(home / "r")]
    err = _one_line_exit_2(capsys, run.main(base + ["--seed", str(2**32)]))
    assert "--seed: expected a whole number in 0…4294967295" in err
    _file(home / "ttsr-bench.toml", 'published = "nope.toml"\n')
    err = _one_line_exit_2(capsys, run.main(base))
    assert "ttsr-bench.toml published:" in err and "nope.toml: published-numbers file not found" in err
    (home / "ttsr-bench.toml").unlink()
    monkeypatch.setenv("TTSR_BENCH_PUBLISHED", "nope.toml")
    err = _one_line_exit_2(capsys, run.main(base))
    assert "$TTSR_BENCH_PUBLISHED: nope.toml: published-numbers file not found" in err
    monkeypatch.delenv("TTSR_BENCH_PUBLISHED")
    err = _one_line_exit_2(capsys, run.main(base + ["--published", "mine.toml"]))
    assert "--published: mine.toml: published-numbers file not found" in err
    assert not (home / "r" / "rows.csv").exists()  # nothing ran
    import torch

    if not torch.cuda.is_available():
        _file(home / "ttsr-bench.toml", 'device = "cuda:0"\n')
        err = _one_line_exit_2(capsys, run.main(base))
        assert "ttsr-bench.toml device 'cuda:0': no CUDA device" in err
        err = _one_line_exit_2(capsys, run.main(base + ["--device", "cuda:1"]))
        assert "--device: 'cuda:1': no CUDA device" in err
