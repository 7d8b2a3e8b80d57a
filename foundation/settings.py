"""The settings every command shares, resolved in one place: the settings file, the data root, the
weights, the published-numbers files and the pixel limit.

One precedence rule for every setting, first found wins:

    the command-line option  >  the settings file  >  the environment variable  >  the built-in default

    setting           option               settings-file key     environment               default
    settings file     --settings FILE      -                     $TTSR_BENCH_CONFIG        ./ttsr-bench.toml if present
    data root         --data-root DIR      data_root             $TTSR_BENCH_DATA          ./data
    weights           --weights NAME=PATH  [weights] NAME=PATH   $TTSR_BENCH_WEIGHTS (1)   ./weights
    published files   --published FILE     published             $TTSR_BENCH_PUBLISHED     none
    pixel limit       --max-pixels N       -                     $TTSR_BENCH_MAX_PIXELS    4096x4096 (2)
    device            --device             device                -                         auto
    memory budget     --max-memory SIZE    max_memory            -                         per method
    methods, metrics  --methods, --metrics methods, metrics      -                         per command
    plug-in modules   --plugin MODULE      plugins               -                         none (3)

(1) one or more folders separated by `os.pathsep` (':' on Linux), searched in order before
./weights; a named file (`--weights`, `[weights]`) is used as it is. (2) `foundation.imageio`.
(3) modules holding your own methods (metrics, ...), imported before any name is looked up
(`foundation.registry.load_plugins`); imports add, so the file's and the option's modules are all
loaded. Installed packages can instead declare entry points (groups `ttsr_bench.methods`,
`ttsr_bench.metrics`).

Every command reads the settings file (`benchmarks.cli`, README "Settings"). The training
commands' `--config` is the training recipe (configs/*.toml), so the settings file is named with
`--settings` everywhere; `python -m benchmarks.reproduce --config FILE` keeps working as an alias.
Example `ttsr-bench.toml` (paths relative to the file's folder, `~` expanded):

    data_root = "/data/refsr"            # CUFED5/, Sun80/, Urban100/, Manga109/, Set5/ ...
    device = "cuda"                      # auto | cpu | cuda | cuda:N | mps
    metrics = ["psnr", "ssim", "lpips"]
    max_memory = "8GiB"                  # or an integer: MiB (foundation.budget)
    published = "my-published.toml"      # or a list of files (benchmarks.published)
    plugins = ["my_pkg.my_methods"]      # modules registering your own methods
    [weights]
    ttsr-rec = "/ckpt/TTSR-rec.pt"

Errors: a folder or file the user named (by option, settings-file key or environment variable)
that does not exist, and any wrong key or value in the settings file, is one `UserError` line
naming where the value came from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from foundation.budget import CONFIG_SIZE_HELP, ConfigSize
from foundation.errors import UserError
from foundation.registry import Registry, load_plugins
from foundation.tomlfile import describe_errors, read_toml

#: setting -> its environment variable (the module docstring's table)
ENV = {
    "settings": "TTSR_BENCH_CONFIG",
    "data_root": "TTSR_BENCH_DATA",
    "weights": "TTSR_BENCH_WEIGHTS",
    "published": "TTSR_BENCH_PUBLISHED",
    "max_pixels": "TTSR_BENCH_MAX_PIXELS",
}
DEFAULT_FILE = Path("ttsr-bench.toml")
DEFAULT_DATA_ROOT = Path("data")
DEFAULT_WEIGHTS_DIR = Path("weights")
PLUGIN_HELP = ("import your module that registers methods (metrics, ...) before names are looked up; repeat for "
               "several (also the settings file's plugins; installed packages: entry points ttsr_bench.methods, ttsr_bench.metrics)")
DEVICE_TEXT = 'one of "auto", "cpu", "cuda", "cuda:N" or "mps" (foundation.devices)'


def add_settings_option(parser, reads: str = "") -> None:
    """`--settings FILE`, as every command takes it; `reads`: the keys this command reads (for --help)."""
    parser.add_argument("--settings", metavar="FILE", help="settings file" + (f": {reads}" if reads else "")
                        + f" (default: ${ENV['settings']}, else ./{DEFAULT_FILE} when present; foundation.settings)")


def add_plugin_option(parser, note: str = "") -> None:
    """`--plugin MODULE` (repeatable, into `plugins`), as every command that names methods or measures takes it."""
    parser.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MODULE",
                        help=PLUGIN_HELP + (f"; {note}" if note else ""))


class SettingsFile(BaseModel):
    """The keys of a settings file (module docstring), types checked strictly."""

    model_config = ConfigDict(extra="forbid", strict=True)
    data_root: str | None = Field(None, min_length=1, description="a folder path (a string)")
    device: Literal["auto", "cpu", "cuda", "mps"] | Annotated[str, Field(pattern=r"^cuda:\d+$")] | None = Field(
        None, description=DEVICE_TEXT)
    metrics: list[str] | None = None
    methods: list[str] | None = None
    weights: dict[str, str] = Field(default_factory=dict)
    max_memory: ConfigSize = Field(None, description=CONFIG_SIZE_HELP)
    published: str | list[str] | None = Field(
        None, description="your published-numbers file, or a list of them (benchmarks.published)")
    plugins: list[str] | None = Field(None, description='a list of module names, e.g. ["my_pkg.my_methods"]')


def _from_file(value: str, base: Path) -> Path:
    """A path written in the settings file: `~` expanded, relative to the file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def find_file(option: str | os.PathLike | None = None) -> Path | None:
    """The settings file: `option` (--settings), else $TTSR_BENCH_CONFIG, else ./ttsr-bench.toml when
    present, else None. A file named by the option or the variable must exist (`UserError`)."""
    named = option or os.environ.get(ENV["settings"])
    path = Path(named).expanduser() if named else DEFAULT_FILE
    if path.is_file():
        return path
    if named:
        what = "is a folder, expected a TOML file" if path.is_dir() else "not found"
        raise UserError(f"settings file {path} {what} (from {'--settings' if option else '$' + ENV['settings']})")
    return None


def read_file(path: Path | None, methods: Registry | None = None) -> dict[str, Any]:
    """The keys set in settings file `path` ({} for None), checked: types, values, each `[weights]`
    entry for one of `methods` (when given; keyed by its registered name); paths made relative to
    the file's folder; its `plugins` imported (`load_plugins`). Whether a named folder or file exists is checked by `resolve` for the value
    that wins (an option overrides a stale file value). `UserError` naming the file and the key."""
    if path is None:
        return {}
    data = read_toml(path, what="settings")
    try:
        checked = SettingsFile.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{path}: {describe_errors(err, SettingsFile)}; see the settings table in "
                        "README.md, Settings") from None
    values = {key: getattr(checked, key) for key in data}
    if checked.plugins:  # before the names below are checked: they may be the plug-ins' methods
        values["plugins"] = load_plugins(checked.plugins, f"{path}: plugins")
    base = path.parent
    if checked.data_root is not None:
        values["data_root"] = _from_file(checked.data_root, base)
    weights = {}
    for name, value in checked.weights.items():
        if methods is not None and name not in methods:
            raise UserError(f"{path}: [weights] {name} = {value!r}: no such method; valid names: {', '.join(methods)}")
        weights[methods.canonical(name) if methods is not None else name] = _from_file(value, base)
    if "weights" in values:
        values["weights"] = weights
    if checked.published is not None:
        items = [checked.published] if isinstance(checked.published, str) else checked.published
        values["published"] = [_from_file(item, base) for item in items]
    return values


def parse_weight_overrides(items: Iterable[str] | None, option: str = "--weights") -> dict[str, Path]:
    """`["ttsr=/x/TTSR.pt", ...]` (the `--weights` arguments) -> {method: path}; `UserError` on an
    item that is not NAME=PATH."""
    overrides: dict[str, Path] = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"{option} {item!r}: expected NAME=PATH, e.g. {option} ttsr-rec=TTSR-rec.pt")
        overrides[name.strip()] = Path(path.strip()).expanduser()
    return overrides


def weight_dirs() -> list[Path]:
    """The folders searched for a weights file not named explicitly: $TTSR_BENCH_WEIGHTS (an
    `os.pathsep` list; each must be an existing folder, else `UserError`), then ./weights."""
    env = ENV["weights"]
    dirs = [Path(p).expanduser() for p in os.environ.get(env, "").split(os.pathsep) if p]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UserError(f"${env}: folder {', '.join(missing)} not found; set it to the folder(s) holding "
                        f"the weights files (separated by '{os.pathsep}'), or unset it")
    return dirs + [DEFAULT_WEIGHTS_DIR]


def weights_origin(path: Path) -> str:
    """Where a weights file found by folder search came from: "$TTSR_BENCH_WEIGHTS" or "./weights"."""
    env = ENV["weights"]
    in_env = any(Path(p).expanduser() in path.parents for p in os.environ.get(env, "").split(os.pathsep) if p)
    return f"${env}" if in_env else f"./{DEFAULT_WEIGHTS_DIR}"


@dataclass(frozen=True)
class Settings:
    """What a command resolved (module docstring): `file` read (None: none), its checked `values`,
    the data root with `data_from` (where it came from) and `data_named` (False: the default),
    the weights files named (`--weights` over the file's `[weights]`) with where each came from, and
    the plug-in modules imported (the file's `plugins`, then `--plugin`'s)."""

    file: Path | None
    values: Mapping[str, Any]
    data_root: Path | None
    data_from: str
    data_named: bool
    weights: dict[str, Path] = field(default_factory=dict)
    weights_from: dict[str, str] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)

    def origin(self, key: str, option: Any, flag: str) -> str:
        """Where `get(key, option)` came from, for messages: `flag` when the option was given, else
        "<settings file> <key>" (or `flag` when the file does not set it either: the default)."""
        if option not in (None, [], ()) or self.values.get(key) is None:
            return flag
        return f"{self.file} {key}"

    def get(self, key: str, option: Any = None) -> Any:
        """`option` when given (not None / empty), else the settings file's `key`, else None."""
        return option if option not in (None, [], ()) else self.values.get(key)

    def names(self, key: str, option: Iterable[str] | None, registry: Registry) -> list[str] | None:
        """`get(key, option)` (methods, metrics) as registered names (`Registry.canonical_names`: any
        case, aliases), or None when neither gives any; `UserError` naming the option or file key."""
        names = self.get(key, option)
        return registry.canonical_names(names, f"--{key}" if option else f"{self.file}: {key}") if names else None


def _data_root(option: str | os.PathLike | None, values: Mapping[str, Any], file: Path | None
               ) -> tuple[Path | None, str, bool]:
    env = ENV["data_root"]
    if option:
        root, source = Path(option).expanduser(), "--data-root"
    elif values.get("data_root") is not None:
        root, source = values["data_root"], f"{file} data_root"
        if not root.is_dir():
            raise UserError(f"{file}: data_root = {str(root)!r}: folder "
                            f"{'is a file' if root.exists() else 'not found'}; fix data_root in the settings file "
                            "(relative paths start at the file's folder)")
    elif os.environ.get(env):
        root, source = Path(os.environ[env]).expanduser(), f"${env}"
    elif DEFAULT_DATA_ROOT.is_dir():
        return DEFAULT_DATA_ROOT, f"./{DEFAULT_DATA_ROOT}", False
    else:
        return None, f"{DEFAULT_DATA_ROOT}/ is absent and ${env} is not set", False
    if not root.exists():
        raise UserError(f"{source} = {str(root)!r}: folder not found; set it to the folder holding the test sets "
                        f"(e.g. data/CUFED5, data/Urban100)")
    if not root.is_dir():
        raise UserError(f"{source} = {str(root)!r}: is a file, expected the folder holding the test sets")
    return root, source, True


def resolve(settings_file: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
            weights: Iterable[str] | None = None, data: bool = True, methods: Registry | None = None,
            plugins: Iterable[str] | None = None) -> Settings:
    """The settings of one command from its options (`--settings`, `--data-root`, `--weights`), the
    settings file and the environment (module docstring); `data=False` for a command that reads no
    test set (the data root is then not looked at: None); `methods`: the methods' registry, when
    the weights named must be for one of them (then keyed by the registered name: any case);
    `plugins`: the `--plugin` modules, imported first (`foundation.registry.load_plugins`), then the
    file's. Raises `UserError` (one line) for a named file or folder that does not exist, a plug-in
    that cannot be imported and a bad settings-file key."""
    option_plugins = load_plugins(plugins or (), "--plugin")
    file = find_file(settings_file)
    values = read_file(file, methods)
    root, data_from, named = _data_root(data_root, values, file) if data else (None, "not needed", False)
    named_weights = dict(values.get("weights", {}))
    origins = {name: f"{file} [weights]" for name in named_weights}
    in_file = dict(named_weights)
    overrides = parse_weight_overrides(weights)
    unknown = [name for name in overrides if methods is not None and name not in methods]
    if unknown:
        raise UserError(f"--weights names unknown method {', '.join(map(repr, unknown))}; valid names: "
                        f"{', '.join(methods)}")
    for name, path in overrides.items():
        name = methods.canonical(name) if methods is not None else name
        named_weights[name], origins[name] = path, "--weights"
    for name, path in named_weights.items():  # a file named by the settings file, if it is the one used
        if name in in_file and origins[name] != "--weights" and not path.is_file():
            shown = path.relative_to(file.parent) if path.is_relative_to(file.parent) else path
            raise UserError(f"{file}: [weights] {name} = {str(shown)!r}: "
                            f"{'is a folder' if path.is_dir() else 'file not found'} ({path}); give the weights "
                            "file (relative paths start at the settings file's folder)")
    loaded = list(dict.fromkeys([*values.get("plugins", []), *option_plugins]))
    return Settings(file, values, root, data_from, named, named_weights, origins, loaded)
