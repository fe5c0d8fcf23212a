"""What a valid ``params.yaml`` is: the bounds, one pydantic model per group, the rules that
relate keys of different groups, and the one-line messages of ``InvalidParams``.

Torch-free (validation runs before anything heavy is imported). The rules it shares with the
other stages live once, in ``activation_study.common``, and are imported here: configuration
ids (``common.configs``), ``auto``, the batch-size, device and compile rules and the message
form (``common.param_reader``). Editing those reruns validation as well, which stales nothing
(its output is a constant marker); editing this module reruns nothing but validation.
``common`` reads the file and gives the stages their values; this module says whether the
values are allowed. ``params.validated`` turns an ``InvalidParams`` into the stages'
``ParamError``.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from activation_study.activations._catalogue import catalogue
from activation_study.analysis.classifier_choices import ESTIMATORS, PRIORS
from activation_study.common.configs import grid_configs
from activation_study.common.param_reader import (
    AUTO_LR,
    batch_size_problem,
    compile_problem,
    not_allowed,
)
from activation_study.numerics import MODES as CPU_NUMERICS_MODES


class InvalidParams(ValueError):
    """params.yaml breaks the schema: one line per problem."""


SOURCE = "params.yaml"
ACTIVATIONS = catalogue()  # name -> shape parameter: the files of activation_study/activations/
# training samples before the split: the official training set, or the whole shipped set
OFFICIAL_TRAIN_SAMPLES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
SHIPPED_SAMPLES = {"mnist5k": 5000, "digits": 1797}
DATASETS = (*OFFICIAL_TRAIN_SAMPLES, *SHIPPED_SAMPLES)
SETS = ("train", "validation", "test")
EXTRACT_DTYPES = ("float16", "float32")
INITIAL_BATCHNORM = ("training_set", "as_initialised")
# train.compile: CUDA graphs of the training step; auto = on for CUDA devices, off for CPU
COMPILE_CHOICES = ("auto", True, False)
# train.matmul_precision: torch.set_float32_matmul_precision; high allows TF32 on CUDA
MATMUL_PRECISIONS = ("highest", "high")
DEVICE_PATTERN = r"^(auto|cpu|cuda(:(0|[1-9][0-9]*))?)$"

# The numeric bounds, inclusive (an open end is marked where the field is declared).
MAX_SEED = 2**32 - 1  # numpy's seed range
BOUNDS: dict[str, tuple[float, float]] = {
    "grid.depths": (1, 64),
    "grid.widths": (1, 16384),
    "data.validation_size": (100, 59999),  # and below the grid's official training sets
    "data.split_seed": (0, MAX_SEED),
    "train.seeds": (0, MAX_SEED),
    "train.epochs": (1, 10000),
    "train.batch_size": (1, 65536),  # and at most the grid's training sets
    "train.lr": (1e-6, 0.1),  # Adam: 10 is a typo, not a rate
    "train.lr_decay": (0, 1),  # open below
    "train.checkpoint_every": (1, 10000),
    "train.cpu_threads": (1, 1024),
    "tune.grid": (1e-6, 0.1),
    "tune.rounds": (1, 10),
    "tune.epochs": (1, 10000),
    "tune.seeds": (0, MAX_SEED),
    "extract.samples_per_class": (1, 1_000_000),
    "analysis.accuracy_target": (0, 100),  # open below
    "classify.bandwidth": (0.01, 10),  # 1e-6 would ask for a grid of ~1e8 points
    "classify.floor": (1e-30, 0.01),  # densities are interpolated in float32
    "classify.grid_per_bandwidth": (4, 256),
    "classify.tolerance": (0, 100),
    "plots.hist_nodes": (1, 100),
    "report.tolerance": (0, 100),
}


def span(key: str, open_low: bool = False) -> str:
    low, high = (str(x) if isinstance(x, int) else f"{x:g}" for x in BOUNDS[key])
    return f"{'(' if open_low else '['}{low}, {high}]"


def bounded(key: str, kind: type = int, open_low: bool = False) -> Any:
    """``kind`` within ``BOUNDS[key]`` (YAML's true and false are no numbers: strict)."""
    low, high = BOUNDS[key]
    return Annotated[kind, Field(gt=low, le=high) if open_low else Field(ge=low, le=high)]


def _distinct(values: list | None) -> list | None:
    if values and len(set(values)) != len(values):
        raise ValueError("values repeat")
    return values


def _distinct_rates(rates: list[float]) -> list[float]:
    if len({float(f"{r:.3g}") for r in rates}) != len(rates):
        raise ValueError("rates repeat")
    return rates


def _with_train(sets: list[str]) -> list[str]:
    if "train" not in sets:
        raise ValueError("train missing")
    return sets


def distinct_list(item: Any, what: str, empty: bool = False) -> Any:
    """A list of distinct ``item``; ``what`` says what is allowed."""
    return Annotated[list[item], Field(min_length=0 if empty else 1, description=what),
                     AfterValidator(_distinct)]


class Group(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


def keyed(name: str, fields: dict[str, tuple[Any, str]]) -> type[Group]:
    """A group whose keys are optional (absent: None; ``model_fields_set`` tells them apart
    from null) and each ``(type, what is allowed)``."""
    return create_model(name, __base__=Group,
                        **{key: (kind, Field(None, description=what))
                           for key, (kind, what) in fields.items()})


NAME_PATTERN = r"^[a-z][a-z0-9_]*$"  # no "-": configuration ids split on it
DatasetName = Annotated[str, Field(pattern=NAME_PATTERN)]


class Grid(Group):
    datasets: distinct_list(DatasetName, f"distinct names from {', '.join(DATASETS)} or keys "
                                         "of data.files")
    activations: distinct_list(Literal[tuple(ACTIVATIONS)],
                               f"distinct names from {', '.join(ACTIVATIONS)}")
    depths: distinct_list(bounded("grid.depths"),
                          f"a non-empty list of distinct integers in {span('grid.depths')}")
    widths: distinct_list(bounded("grid.widths"),
                          f"a non-empty list of distinct integers in {span('grid.widths')}")
    batchnorm: distinct_list(bool, "a non-empty list of distinct true/false")


class Fractions(Group):
    train: Annotated[float, Field(gt=0, lt=1, description="a fraction in (0, 1)")]
    validation: Annotated[float, Field(gt=0, lt=1, description="a fraction in (0, 1)")]
    test: Annotated[float, Field(gt=0, lt=1, description="a fraction in (0, 1)")]

    @model_validator(mode="after")
    def _sum_to_one(self) -> Fractions:
        if abs(self.train + self.validation + self.test - 1) > 1e-9:
            raise ValueError("fractions do not sum to 1")
        return self


def _no_parent(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError("a path out of datasets/")
    return path


class UserFile(Group):
    path: Annotated[str, Field(pattern=r"^datasets/.+\.npz$"), AfterValidator(_no_parent)] = (
        Field(description="an NPZ file inside datasets/ (no '..'), e.g. datasets/blobs.npz"))
    classes: distinct_list(str, "", empty=False) = Field(
        description="the class names, a non-empty list of distinct strings")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = Field(
        None, description="null or the file's SHA-256 (64 hexadecimal digits)")


class Data(Group):
    local_dir: str = Field(description='a folder name (a string; "" = env ACTIVATION_STUDY_DATA)')
    validation_size: bounded("data.validation_size") = Field(
        description=f"an integer in {span('data.validation_size')}")
    shipped_fractions: Fractions = Field(
        description="fractions train, validation, test, each in (0, 1), summing to 1")
    split_seed: bounded("data.split_seed") = Field(
        description=f"an integer in {span('data.split_seed')}")
    files: dict[DatasetName, UserFile] = Field(
        description="a mapping: dataset name -> {path, classes, sha256} (datasets of your own)")


LearningRate = bounded("train.lr", float) | Literal[AUTO_LR]
Lr = keyed("Lr", {name: (LearningRate, f"an Adam learning rate in {span('train.lr')} or "
                                       f"{AUTO_LR!r}")
                  for name in ACTIVATIONS})
ShapeParameters = keyed("ShapeParameters", {
    name: (None, f"null ({name} has no shape parameter)") if shape is None else
    (Annotated[float, Field(gt=shape.range[0], lt=shape.range[1])],
     f"its {shape.name}, a number in ({shape.range[0]}, {shape.range[1]})")
    for name, shape in ACTIVATIONS.items()})


class Train(Group):
    seeds: distinct_list(bounded("train.seeds"), "a non-empty list of distinct integers >= 0")
    epochs: bounded("train.epochs") = Field(description=f"an integer in {span('train.epochs')}")
    batch_size: bounded("train.batch_size") = Field(
        description=f"an integer in {span('train.batch_size')}")
    lr: Lr = Field(description="a mapping: activation -> learning rate or auto")
    shape: ShapeParameters = Field(description="a mapping: activation -> shape or null")
    lr_decay: bounded("train.lr_decay", float, open_low=True) = Field(
        description=f"a factor in {span('train.lr_decay', open_low=True)}")
    snapshot_epochs: distinct_list(bounded("train.epochs"), "", empty=True) | None = Field(
        description="null or a list of distinct epochs between 1 and train.epochs")
    device: Annotated[str, Field(pattern=DEVICE_PATTERN)] = Field(
        description="auto, cpu, cuda or cuda:N (N an integer >= 0)")
    checkpoint_every: bounded("train.checkpoint_every") = Field(
        description=f"epochs between checkpoints, an integer in {span('train.checkpoint_every')}")
    cpu_threads: bounded("train.cpu_threads") = Field(
        description=f"torch threads of training on CPU, an integer in "
                    f"{span('train.cpu_threads')}")
    cpu_numerics: Literal[CPU_NUMERICS_MODES] = Field(
        description=" or ".join(CPU_NUMERICS_MODES) + " (portable: the same bytes on any "
                    "x86-64-v3 CPU)")
    compile: Literal[COMPILE_CHOICES] = Field(
        description="auto (CUDA graphs on CUDA devices), true or false")
    matmul_precision: Literal[MATMUL_PRECISIONS] = Field(
        description=" or ".join(MATMUL_PRECISIONS) + " (high allows TF32 on CUDA)")


class Tune(Group):
    grid: Annotated[list[bounded("tune.grid", float)], Field(min_length=1),
                    AfterValidator(_distinct_rates)] = Field(
        description=f"a non-empty list of learning rates in {span('tune.grid')}, distinct to "
                    "3 significant digits")
    rounds: bounded("tune.rounds") = Field(description=f"an integer in {span('tune.rounds')}")
    epochs: bounded("tune.epochs") = Field(description=f"an integer in {span('tune.epochs')}")
    seeds: distinct_list(bounded("tune.seeds"), "a non-empty list of distinct integers >= 0")


class Extract(Group):
    samples_per_class: bounded("extract.samples_per_class") | None = Field(
        description="null (all samples) or an integer in "
                    f"{span('extract.samples_per_class')}")
    dtype: Literal[EXTRACT_DTYPES] = Field(description=" or ".join(EXTRACT_DTYPES))
    sets: Annotated[distinct_list(Literal[SETS], ""), AfterValidator(_with_train)] = Field(
        description=f"distinct names from {', '.join(SETS)}, including train")
    initial_batchnorm: Literal[INITIAL_BATCHNORM] = Field(
        description=" or ".join(INITIAL_BATCHNORM))


class Analysis(Group):
    accuracy_target: bounded("analysis.accuracy_target", float, open_low=True) = Field(
        description=f"a percentage in {span('analysis.accuracy_target', open_low=True)}")


class Classify(Group):
    bandwidth: bounded("classify.bandwidth", float) = Field(
        description=f"a number in {span('classify.bandwidth')} (0.2 in the dissertation)")
    floor: bounded("classify.floor", float) = Field(
        description=f"a number in {span('classify.floor')}, e.g. 1.0e-10")
    prior: Literal[PRIORS] = Field(description=" or ".join(PRIORS))
    estimator: Literal[ESTIMATORS] = Field(description=" or ".join(ESTIMATORS))
    grid_per_bandwidth: bounded("classify.grid_per_bandwidth") = Field(
        description=f"an integer in {span('classify.grid_per_bandwidth')} (24 by default)")
    tolerance: bounded("classify.tolerance", float) = Field(
        description=f"percentage points in {span('classify.tolerance')}")


class Plots(Group):
    configs: distinct_list(str, "", empty=True) | None = Field(
        description="null or a list of distinct configuration ids of the grid")
    seed_index: Annotated[int, Field(ge=0)] = Field(description="an index into train.seeds")
    hist_nodes: bounded("plots.hist_nodes") = Field(
        description=f"an integer in {span('plots.hist_nodes')}")


class Report(Group):
    tolerance: bounded("report.tolerance", float) = Field(
        description=f"percentage points in {span('report.tolerance')}")
    wall_times: bool = Field(description="true or false (a section of the stages' wall times "
                                         "from the run logs)")


class Params(Group):
    grid: Grid
    data: Data
    train: Train
    tune: Tune
    extract: Extract
    analysis: Analysis
    classify: Classify
    plots: Plots
    report: Report


def training_samples(dataset: str, data: Data) -> int:
    """Training samples of ``dataset`` after the split stage, known without the data: an
    official set loses ``data.validation_size``; a shipped set keeps what scikit-learn's
    ``train_test_split(train_size=fraction)`` keeps, ``floor(fraction * n)`` (data/split.py)."""
    if dataset in OFFICIAL_TRAIN_SAMPLES:
        return OFFICIAL_TRAIN_SAMPLES[dataset] - data.validation_size
    return math.floor(data.shipped_fractions.train * SHIPPED_SAMPLES[dataset])


def relations(p: Params) -> list[str]:
    """The rules relating keys of different groups: a message per broken one."""
    problems = []
    for name in p.grid.activations:
        for key, group in (("lr", p.train.lr), ("shape", p.train.shape)):
            if name not in group.model_fields_set:
                problems.append(f"{SOURCE}: missing key 'train.{key}.{name}' (expected "
                                f"{type(group).model_fields[name].description}: every "
                                "activation of grid.activations needs one)")
    compiled = compile_problem(p.train.compile, on_cuda=p.train.device != "cpu")
    if compiled:
        problems.append(compiled)
    late = [e for e in p.train.snapshot_epochs or [] if e > p.train.epochs]
    if late:
        problems.append(not_allowed("train.snapshot_epochs", late[0],
                                    f"epochs between 1 and train.epochs = {p.train.epochs}"))
    for name in p.data.files:
        if name in DATASETS:
            problems.append(not_allowed("data.files", name, f"names other than the built-in "
                                        f"{', '.join(DATASETS)}"))
    unknown = [d for d in p.grid.datasets if d not in DATASETS and d not in p.data.files]
    for name in unknown:
        problems.append(not_allowed("grid.datasets", name, f"one of {', '.join(DATASETS)} or a "
                                    f"key of data.files ({', '.join(p.data.files) or 'none'})"))
    official = [d for d in p.grid.datasets if d in OFFICIAL_TRAIN_SAMPLES]
    smallest = min((OFFICIAL_TRAIN_SAMPLES[d] for d in official), default=math.inf)
    if p.data.validation_size >= smallest:
        problems.append(not_allowed("data.validation_size", p.data.validation_size,
                                    f"fewer than {smallest}, the smallest official training "
                                    f"set of {', '.join(official)} in grid.datasets"))
    else:
        for dataset in [d for d in p.grid.datasets if d in DATASETS]:  # own files: unknown n
            n = training_samples(dataset, p.data)
            problem = batch_size_problem(p.train.batch_size, n, dataset,
                                         batchnorm=True in p.grid.batchnorm)
            if problem:
                problems.append(not_allowed("train.batch_size", p.train.batch_size, problem))
    known = [config["id"] for config in grid_configs(p.grid.model_dump())]
    for cid in p.plots.configs or []:
        if cid not in known:
            problems.append(not_allowed("plots.configs", cid,
                                        f"ids of configurations in the grid, e.g. {known[0]}"))
    if p.plots.seed_index >= len(p.train.seeds):
        problems.append(not_allowed("plots.seed_index", p.plots.seed_index,
                                    f"an index into train.seeds (0..{len(p.train.seeds) - 1})"))
    return problems


# --- pydantic's errors as one line per problem -----------------------------------------------

YAML_EXPONENT = re.compile(r"[+-]?(\d+)(\.\d*)?[eE]([+-]?)(\d+)")


def _float_hint(value: Any) -> str:
    """PyYAML (YAML 1.1) reads ``3e-3`` as a string: say how to write the number."""
    match = isinstance(value, str) and YAML_EXPONENT.fullmatch(value.strip())
    if not match:
        return ""
    whole, fraction, sign, exponent = match.groups()
    mantissa = value.strip().split("e")[0].split("E")[0]
    written = f"{mantissa}{'' if fraction else '.0'}e{sign or '+'}{exponent}"
    return (f" (PyYAML reads {value} as a string: write {written}; YAML 1.1 needs a dot and a "
            "signed exponent)")


def _walk(loc: tuple) -> tuple[list[str], type[BaseModel], Any]:
    """The dotted key of a pydantic error location, the model holding its last key and that
    key's field (None at the top)."""
    keys: list[str] = []
    model: type[BaseModel] = Params
    field = mapping = None
    for part in loc:
        if isinstance(part, int):
            continue
        if part == "[key]":  # the mapping's key itself is refused: name the mapping
            keys.pop()
            field = mapping
            break
        if field is not None and get_origin(field.annotation) is dict:
            keys.append(str(part))  # a key of a mapping (data.files.<name>): its value next
            mapping, field = field, FieldInfo.from_annotation(get_args(field.annotation)[1])
            continue
        if field is not None:
            inner = field.annotation
            if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                break  # a union member's tag: the key is complete
            model = inner
        if part not in model.model_fields:
            keys.append(str(part))  # an unknown key
            field = None
            break
        keys.append(part)
        field = model.model_fields[part]
    return keys, model, field


def _allowed(field: Any) -> str:
    inner = field.annotation
    if field.description or not (isinstance(inner, type) and issubclass(inner, BaseModel)):
        return field.description
    return "a mapping with keys " + ", ".join(inner.model_fields)


def describe(error: dict, prefix: tuple = ()) -> str:
    """One line for one pydantic error."""
    keys, model, field = _walk(prefix + tuple(error["loc"]))
    key = ".".join(keys)
    if error["type"] == "extra_forbidden":
        parent = ".".join(keys[:-1])
        close = difflib.get_close_matches(keys[-1], list(model.model_fields), n=1)
        hint = f"; did you mean '{'.'.join([*keys[:-1], close[0]])}'?" if close else ""
        where = f"'{parent}'" if parent else "params.yaml (groups)"
        return (f"{SOURCE}: unknown key '{key}'{hint} (the keys of {where} are "
                f"{', '.join(model.model_fields)})")
    if not keys:
        return f"{SOURCE}: expected a mapping of parameter groups, got {error['input']!r}"
    allowed = _allowed(field)
    if error["type"] == "missing":
        return f"{SOURCE}: missing key '{key}' (expected {allowed})"
    return not_allowed(key, error["input"], allowed) + _float_hint(error["input"])


def problems_of(exc: ValidationError, prefix: tuple = ()) -> list[str]:
    lines = [describe(error, prefix) for error in exc.errors()]
    return list(dict.fromkeys(lines))  # a union reports once per member


def check(raw: Any) -> Params:
    """The whole file, validated; InvalidParams listing every problem found."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise InvalidParams("\n".join(problems_of(exc))) from None
    problems = relations(params)
    if problems:
        raise InvalidParams("\n".join(problems))
    return params


def check_group(raw: Any, name: str) -> Group:
    """One group of the file, validated on its own (its relations to other groups not)."""
    node = raw.get(name, {}) if isinstance(raw, dict) else raw
    try:
        return Params.model_fields[name].annotation.model_validate(node)
    except ValidationError as exc:
        raise InvalidParams("\n".join(problems_of(exc, (name,)))) from None
