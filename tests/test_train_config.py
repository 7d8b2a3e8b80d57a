"""Training TOML validation (issue 12, "Training TOML") and the numeric options of the training CLIs.

Every wrong type or impossible value of a config is one line naming the file, the key, the value and the
expected type and range, exit 2, before any model or data is built; the ranges are documented in
`training.config`'s docstring; `--max-steps -1` and friends are refused by argparse type functions.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import training.config as train_config
from foundation.errors import UserError
from training.config import TrainConfig, TTSRModelTable, describe_field, load_config
from ttsr.config import VARIANTS, TTSRConfig

REPO = Path(__file__).resolve().parents[1]
SECTIONS = {name: info.annotation for name, info in TrainConfig.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, train_config.BaseModel)}

BAD_VALUES = [  # (TOML text, the message's expected part)
    ('[data]\nseed = "zero"\n', '[data] seed = "zero": expected an integer ≥ 0 and ≤ 4294967295'),
    ('[data]\nseed = 1.5\n', "[data] seed = 1.5: expected an integer"),
    ('[data]\nseed = true\n', "[data] seed = true: expected an integer"),
    ('[optim]\nlr = "fast"\n', '[optim] lr = "fast": expected a number > 0'),
    ("[optim]\nlr = -1e-4\n", "[optim] lr = -0.0001: expected a number > 0"),
    ("[optim]\nlr = nan\n", "[optim] lr = NaN: expected a number > 0"),
    ("[optim]\nbetas = 0.9\n", "[optim] betas = 0.9: expected a list of 2 numbers, each ≥ 0 and < 1"),
    ("[optim]\nbetas = [0.9, 1.5]\n", "[optim] betas[1] = 1.5: expected a list of 2 numbers, each ≥ 0 and < 1"),
    ("[optim]\nbetas_d = [0.9]\n", "[optim] betas_d = [0.9]: expected a list of 2 numbers"),
    ('[schedule]\nlr_gamma = "half"\n', '[schedule] lr_gamma = "half": expected a number > 0 and ≤ 1'),
    ("[schedule]\nmax_steps = -1\n", "[schedule] max_steps = -1: expected an integer ≥ 0"),
    ("[schedule]\ninit_epochs = 0\nepochs = 0\n", "[schedule] init_epochs + epochs = 0: expected at least one epoch"),
    ("[data]\npatch = 4\n", "[data] patch = 4: expected an integer ≥ 16"),
    ("[data]\npatch = -8\n", "[data] patch = -8: expected an integer ≥ 16"),
    ("[data]\npatch = 50\n", "[data] patch = 50: expected a multiple of scale (4)"),
    ("[data]\nscale = 2\n", "[data] scale = 2: expected 4"),
    ("[data]\nbatch_size = 0\n", "[data] batch_size = 0: expected an integer ≥ 1"),
    ('[data]\nfolders = "HR"\n', '[data] folders = "HR": expected a list of strings'),
    ('[data]\nkind = "imagenet"\n', '[data] kind = "imagenet": expected one of "cufed", "folder", "demo"'),
    ("[loss]\nrec = 0\n", "[loss] rec = 0: expected a number > 0"),
    ('[loss]\ntpl_use_S = "no"\n', '[loss] tpl_use_S = "no": expected true or false'),
    ("[loss]\ngan_k = 0\n", "[loss] gan_k = 0: expected an integer ≥ 1"),
    ("[val]\nref_level = 6\n", "[val] ref_level = 6: expected an integer ≥ 1 and ≤ 5"),
    ("[checkpoint]\nevery = 0\n", "[checkpoint] every = 0: expected an integer ≥ 1"),
    ('[device]\namp = "fp8"\n', '[device] amp = "fp8": expected one of "none", "bf16", "fp16"'),
    ("[device]\nthreads = -2\n", "[device] threads = -2: expected an integer ≥ 0"),
    ('name = "../escape"\n', 'name = "../escape": expected a name of letters, digits'),
    ("loss = 3\n", "[loss] must be a table, not 3"),
    ("[loss]\nrecc = 1.0\n", "unknown key(s) ['recc'] in [loss]; known: ['adv', 'gan_k'"),
    ("[losses]\nrec = 1.0\n", "unknown key or table [losses]; known: checkpoint, data"),
]


@pytest.mark.parametrize("text, expected", BAD_VALUES)
def test_a_bad_value_names_the_file_key_value_and_expected_range(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[data]\nseed = "zero"\npatch = 4\n[optim]\nlr = "fast"\n', encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_config(path)
    message = str(caught.value)
    assert all(part in message for part in ("[data] seed", "[data] patch = 4", '[optim] lr = "fast"')), message


def test_not_utf8_and_not_toml_are_one_line_errors(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "tiny"\n# caf\xe9\n')
    with pytest.raises(UserError, match=r"latin.toml: not UTF-8 text \(byte 0xe9 on line 2\); save the file as UTF-8"):
        load_config(latin)
    broken = tmp_path / "broken.toml"
    broken.write_text("[data\n", encoding="utf-8")
    with pytest.raises(UserError, match="broken.toml: not valid TOML"):
        load_config(broken)
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "none.toml")


def test_integers_are_numbers_and_the_defaults_are_the_release_recipe(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[optim]\nlr = 1\nbetas = [0, 0.5]\n[loss]\ngp_weight = 10\n", encoding="utf-8")
    cfg = load_config(path)
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float) and cfg.optim.betas == [0.0, 0.5]
    default = TrainConfig()
    assert (default.data.patch, default.data.batch_size, default.schedule.init_epochs, default.schedule.epochs,
            default.optim.lr, default.optim.betas_d, default.loss.adv) == (160, 9, 2, 50, 1e-4, [0.0, 0.9], 1e-3)


def test_every_key_is_documented_with_its_type_and_range():
    """The module docstring lists each key with exactly the type and range the validation checks."""
    lines = train_config.__doc__.splitlines()
    for section, model in SECTIONS.items():
        header = next(i for i, line in enumerate(lines) if line.strip() == f"[{section}]")
        for key in model.model_fields:
            line = next((line for line in lines[header + 1:] if line.split() and line.split()[0] == key), None)
            assert line is not None, (section, key)
            assert describe_field(model, key) in line, (section, key, describe_field(model, key), line)
    for key in ("name", "method"):
        assert any(describe_field(TrainConfig, key) in line for line in lines if line.split()[:1] == [key]), key
    words = " ".join(train_config.__doc__.split())  # the [model] text wraps over lines
    for key in TTSRModelTable.model_fields:
        assert key in words and describe_field(TTSRModelTable, key) in words, key


def test_every_shipped_config_is_valid():
    for path in sorted((REPO / "configs").glob("*.toml")):
        cfg = load_config(path)
        if cfg.method == "ttsr":
            cfg.check_model(TTSRModelTable)


def test_ablation_configs_are_their_variant_trained_as_ttsr_rec():
    """configs/ablation-*.toml name a `ttsr.config.VARIANTS` network and inherit the TTSR-rec recipe."""
    rec = load_config(REPO / "configs" / "ttsr-rec.toml").to_dict()
    ablations = sorted((REPO / "configs").glob("ablation-*.toml"))
    assert len(ablations) == 7
    for path in ablations:
        cfg = load_config(path)
        variant = cfg.model["variant"]
        assert TTSRConfig.from_dict(cfg.model) == VARIANTS[variant], path.name
        assert {k: v for k, v in cfg.to_dict().items() if k not in ("name", "model")} == \
            {k: v for k, v in rec.items() if k not in ("name", "model")}, path.name
    assert TTSRConfig.from_dict(load_config(REPO / "configs" / "ttsr.toml").model) == VARIANTS["ttsr"]


def test_base_merges_tables_key_by_key_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "parent.toml").write_text(
        'name = "parent"\n[model]\nvariant = "base+tt"\n[loss]\nper = 0.0\ntpl = 0.0\n', encoding="utf-8")
    child = tmp_path / "child.toml"
    child.write_text('base = "sub/parent.toml"\nname = "child"\n[model]\nn_feats = 80\n[loss]\ntpl = 0.5\n',
                     encoding="utf-8")
    cfg = load_config(child)
    assert cfg.name == "child" and (cfg.loss.per, cfg.loss.tpl, cfg.loss.adv) == (0.0, 0.5, 1e-3)
    assert TTSRConfig.from_dict(cfg.model) == VARIANTS["base+tt-c80"]
    assert cfg.source == str(child)


@pytest.mark.parametrize("files, expected", [
    ({"a.toml": 'base = "b.toml"\n', "b.toml": 'base = "a.toml"\n'}, "makes a cycle (a.toml -> b.toml -> a.toml)"),
    ({"a.toml": 'base = "a.toml"\n'}, "makes a cycle (a.toml -> a.toml)"),
    ({"a.toml": 'base = "gone.toml"\n'}, 'base = "gone.toml": '),
    ({"a.toml": "base = 3\n"}, "base = 3: expected a config file name"),
    ({"a.toml": 'base = "b.toml"\n', "b.toml": "[data]\nseed = -1\n"}, "[data] seed = -1: expected an integer ≥ 0"),
])
def test_a_bad_base_is_one_line(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_config(tmp_path / "a.toml")
    message = str(caught.value)
    assert expected in message and "\n" not in message, message
    assert message.startswith(str(tmp_path)), message


@pytest.mark.parametrize("model, expected", [
    ('variant = "base+xx"', '[model] variant = "base+xx": expected one of "base", "base+ha"'),
    ('variant = "base"\nsoft_attention = true', "[model] soft_attention = true needs hard_attention = true"),
])
def test_a_bad_variant_is_one_line(tmp_path, model, expected):
    path = tmp_path / "v.toml"
    path.write_text(f'name = "t"\n[model]\n{model}\n', encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_config(path).check_model(TTSRModelTable)
    assert expected in str(caught.value), str(caught.value)
    assert TTSRModelTable.model_validate({"variant": "base", "n_feats": 8}).n_feats == 8  # the variant's rule holds


@pytest.mark.parametrize("model, expected", [
    ('hard_attention = "yes"', '[model] hard_attention = "yes": expected true or false'),
    ("n_feats = 1", "[model] n_feats = 1: expected an integer ≥ 2"),
    ("num_res_blocks = [1, 1, 1]", "[model] num_res_blocks = [1, 1, 1]: expected a list of 4 integers, each ≥ 0"),
    ("hard_attention = false", "[model] soft_attention = true needs hard_attention = true"),
    ("n_feat = 8", "unknown key(s) ['n_feat'] in [model]"),
])
def test_ttsr_model_table_is_checked_before_anything_is_built(tmp_path, capsys, monkeypatch, model, expected):
    import benchmarks.train as train

    monkeypatch.setattr(train, "build", lambda *a, **k: pytest.fail("built despite a bad config"))
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "t"\n[model]\n{model}\n[data]\nkind = "demo"\n', encoding="utf-8")
    assert train.main(["--config", str(path), "--allow-random-vgg", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and expected in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model, expected", [
    ('use_weight_map = "false"', '[model] use_weight_map = "false": expected true or false'),
    ("content_batch_stats = 1", "[model] content_batch_stats = 1: expected true or false"),
    ("max_memory = 0", '[model] max_memory = 0: expected a size such as "8GiB" (a string) or MiB (an integer ≥ 16'),
    ('max_memory = "5M"', "[model] max_memory '5M': 5 MiB is below the 16 MiB"),
    ("n_feats = 64", "unknown key(s) ['n_feats'] in [model]"),
])
def test_srntt_model_table_is_checked(tmp_path, capsys, model, expected):
    from benchmarks.train import main

    path = tmp_path / "bad.toml"
    path.write_text(f'name = "s"\nmethod = "srntt"\n[model]\n{model}\n', encoding="utf-8")
    assert main(["--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and expected in err, err


# ----------------------------------------------------------------------------- numeric CLI options

NUMERIC_OPTIONS = [  # (option, a bad value, the expected range text: foundation.cli_types.whole_number)
    ("--max-steps", "-1", "expected a whole number ≥ 0, got '-1'"),
    ("--max-steps", "ten", "expected a whole number ≥ 0, got 'ten'"),
    ("--stop-after", "0", "expected a whole number ≥ 1, got '0'"),
    ("--val-every", "-5", "expected a whole number ≥ 0, got '-5'"),
    ("--checkpoint-every", "0", "expected a whole number ≥ 1, got '0'"),
    ("--num-workers", "-1", "expected a whole number ≥ 0, got '-1'"),
    ("--threads", "2.5", "expected a whole number ≥ 0, got '2.5'"),
]


def _training_mains():
    from benchmarks.train import main

    return [(main, REPO / "configs" / "tiny.toml"), (main, REPO / "configs" / "srntt-tiny.toml")]


@pytest.mark.parametrize("option, value, expected", NUMERIC_OPTIONS)
def test_numeric_options_are_checked_with_one_line(capsys, option, value, expected):
    for main, config in _training_mains():
        assert main(["--config", str(config), "--dry-run", option, value]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"argument {option}: " in err and expected in err, err


def test_numeric_options_in_range_are_applied(capsys):
    from benchmarks.train import apply_overrides, make_parser

    for main, config in _training_mains():
        assert main(["--config", str(config), "--dry-run", "--max-steps", "0", "--threads", "0"]) == 0
        capsys.readouterr()
    args = make_parser().parse_args(["--config", "x", "--max-steps", "7", "--val-every", "0", "--checkpoint-every", "3",
                                     "--num-workers", "0", "--threads", "2"])
    cfg = apply_overrides(TrainConfig(), args)
    assert (cfg.schedule.max_steps, cfg.val.every, cfg.checkpoint.every, cfg.data.num_workers,
            cfg.device.threads) == (7, 0, 3, 0, 2)
    assert "N ≥ 0" in make_parser().format_help()


def test_a_training_folder_is_never_overwritten_without_resume(tmp_path, capsys):
    """A second `benchmarks.train` on a folder holding train_state.pt stops in one line; the file is untouched."""
    import benchmarks.train as train

    out = tmp_path / "run"
    out.mkdir()
    state = out / "train_state.pt"
    state.write_bytes(b"finished work")
    assert train.main(["--config", str(REPO / "configs" / "tiny.toml"), "--allow-random-vgg",
                       "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pass --resume to continue it" in err and str(out) in err
    assert state.read_bytes() == b"finished work"


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu0", "cuda:99"])
def test_device_option_is_checked(device, capsys):
    import benchmarks.train as train

    assert train.main(["--config", str(REPO / "configs" / "tiny.toml"), "--dry-run", "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--device" in err and repr(device) in err


def test_model_sizes_have_an_upper_bound():
    """n_feats = 100000 would try to allocate 360 GB: refused by the config check, naming the key."""
    with pytest.raises(ValueError, match="n_feats"):
        TTSRModelTable.model_validate({"n_feats": 100_000})
    with pytest.raises(ValueError, match="num_res_blocks"):
        TTSRModelTable.model_validate({"num_res_blocks": [16, 16, 8, 100_000]})
    assert TTSRModelTable.model_validate({"n_feats": 1024}).n_feats == 1024
