"""The step registry: every corpus step is declared once, here or by another installed package.

A step is a `StepSpec`: its manifest name, its settings model, how it becomes datatrove steps (`process`: one
step of the process pipeline; `pipeline`: a pipeline of its own, one task, after processing; `per_component`: steps that run on each
component's kept documents before the shard writer), the per-task files a rerun clears (`cleanup`), what it adds
to summary.json (`summary`) and where it may stand in the order (`needs`, `after`, `last`). The manifest's
`steps.order` lists step names; `corpus.pipeline.build_pipelines` is a loop over it.

Built-in steps register where they are defined (the filter's own module, at its end); `builtin_modules` lists
those modules. Another package adds steps, or readers, through the `matcorpus.steps` entry point group: each
entry point names a `StepSpec` or a `SourceReader` subclass (its `key` is the reader's manifest name), e.g.

    [project.entry-points."matcorpus.steps"]
    max_digits = "my_package.filters:MAX_DIGITS"

A plugin step's settings come from the manifest's `steps.plugins.<name>`, validated by its `settings` model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

if TYPE_CHECKING:  # annotations only: the registry sits below the manifest and the pipeline
    from datatrove.pipeline.base import PipelineStep

    from corpus.layout import OutputLayout
    from corpus.outcomes import OutcomeWriter

ENTRY_POINT_GROUP = "matcorpus.steps"


class NoSettings(BaseModel):
    model_config = {"extra": "forbid"}


@dataclass
class StepContext:
    """What a step's factories get: the validated manifest, the layout, whether any source reads crystals, and the
    step's own settings (built-in steps read theirs from the manifest's `steps` section)."""

    manifest: Any  # corpus.manifest.Manifest
    layout: "OutputLayout"
    has_crystals: bool
    settings: BaseModel
    progress: Any = None  # the pipeline's corpus.progress.ProgressBeacon: drops are counted live

    def rejected(self, step: str) -> "OutcomeWriter":
        """The writer a dropping step gives its BaseFilter: records to rejected/<step>-<task>, rows to the ledger."""
        from corpus.outcomes import DROPPED, OutcomeWriter

        return OutcomeWriter(self.layout.rejected, self.layout.rejected_name(step), DROPPED, self.layout.dropped_ledger(step),
                             progress=self.progress)


@dataclass(frozen=True)
class StepSpec:
    name: str
    description: str
    process: Callable[[StepContext], "PipelineStep | None"] | None = None  # None from the factory: off in this manifest
    pipeline: Callable[[StepContext], "tuple[str, str, list[PipelineStep]] | None"] | None = None  # (name, what, steps), one task
    per_component: Callable[[StepContext, str], "list[PipelineStep]"] | None = None
    settings: type[BaseModel] = NoSettings  # a plugin's `steps.plugins.<name>`
    reasons: tuple[str, ...] = ()  # the drop reasons it gives (documentation, the report)
    cleanup: Callable[["OutputLayout"], list[str]] | None = None  # per-task globs with {rank}, beyond rejected/ and ledgers
    summary: Callable[["OutputLayout"], dict] | None = None  # entries it adds to summary.json (empty: none)
    needs: tuple[str, ...] = ()  # steps that must be listed before it
    after: tuple[str, ...] = ()  # steps that, when listed, come before it
    last: bool = False  # must be the last listed step (dedup: it signs what every filter kept)
    why: str = ""  # said when an order breaks `needs`, `after` or `last`
    plugin: str | None = field(default=None, compare=False)  # the distribution that registered it


_STEPS: dict[str, StepSpec] = {}
_READERS: dict[str, type] = {}

# modules whose import registers the built-in steps
BUILTIN_MODULES = (
    "corpus.filters.crystals",  # crystal_validation, crystal_decontamination
    "corpus.filters.length",  # min_chars
    "corpus.text.annotate",  # annotate
    "corpus.filters.quality",  # quality, prose
    "corpus.filters.language",  # language
    "corpus.filters.interleave",  # interleave
    "corpus.filters.domain",  # domain
    "corpus.filters.decontaminate",  # decontamination
    "corpus.dedup.steps",  # dedup
)
# what a manifest without `steps.order` runs: crystal records are validated before the text rules see them; the
# structural rules come before the language filter, so garbled text is dropped for what it is rather than as
# "wrong language"; dedup signs what every filter kept
DEFAULT_ORDER = ("crystal_validation", "crystal_decontamination", "min_chars", "annotate", "quality", "language", "prose",
                 "interleave", "domain", "decontamination", "dedup")


def _run_as_script(spec: StepSpec) -> bool:
    return any(getattr(f, "__module__", None) == "__main__" for f in (spec.process, spec.pipeline, spec.per_component) if f)


def register(spec: StepSpec) -> StepSpec:
    """Add a step; a second step of the same name is an error naming both."""
    if _run_as_script(spec):
        return spec  # its module run with `python -m` (a model builder's command): the package's import registers it
    if spec.name in _STEPS and _STEPS[spec.name] != spec:
        raise ValueError(f"step {spec.name!r} is registered twice ({_STEPS[spec.name].plugin or 'built in'} and {spec.plugin or 'built in'})")
    _STEPS[spec.name] = spec
    return spec


class PluginError(RuntimeError):
    """An entry point of the `matcorpus.steps` group that cannot be loaded or is neither a step nor a reader."""


@lru_cache(maxsize=1)
def _load() -> None:
    """Import the built-in steps, then the plugins (once per process)."""
    for module in BUILTIN_MODULES:
        import_module(module)
    from corpus.readers import READERS, SourceReader

    _READERS.update(READERS)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin is named, with its error, not a bare traceback
            raise PluginError(f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) cannot be loaded: {type(e).__name__}: {e}") from e
        dist = getattr(ep.dist, "name", None) or ep.value
        if isinstance(obj, StepSpec):
            register(replace(obj, plugin=dist))
        elif isinstance(obj, type) and issubclass(obj, SourceReader):
            name = obj.key or ep.name
            if name in _READERS and _READERS[name] is not obj:
                raise PluginError(f"reader {name!r} from {dist} clashes with an existing reader of that name")
            obj.key = name
            _READERS[name] = obj
        else:
            raise PluginError(f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) is neither a StepSpec nor a SourceReader subclass")


def steps() -> dict[str, StepSpec]:
    """Every registered step by name: built-in ones in their default order, then plugins."""
    _load()
    return {**{n: _STEPS[n] for n in DEFAULT_ORDER}, **{n: spec for n, spec in _STEPS.items() if n not in DEFAULT_ORDER}}


def default_order() -> list[str]:
    """The built-in steps in the order a manifest without `steps.order` runs them."""
    return list(DEFAULT_ORDER)


def readers() -> dict[str, type]:
    """Every reader by manifest name: built-in and from plugins (imports them all, and every step)."""
    _load()
    return dict(_READERS)


def reader(name: str) -> type | None:
    """One reader by manifest name, importing only it when it is a built-in one (a command that reads one format
    starts without the others); a plugin's name loads the plugins. None for an unknown name."""
    from corpus.readers import BUILTIN, builtin_reader

    if name in BUILTIN:
        return builtin_reader(name)
    return readers().get(name)


def reader_names() -> list[str]:
    """The built-in readers' names and the plugins' entry-point names, without importing any of them (an entry point
    that turns out to be a step is named as an unknown reader when it is used)."""
    from corpus.readers.names import BUILTIN

    plugins = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN)
    return [*BUILTIN, *plugins]


def order_problems(order: list[str], where: str = "steps.order") -> list[str]:
    """What is wrong with an ordered list of step names: unknown or repeated names, a step before one it needs,
    a step that must be last and is not. Each message names the position and why."""
    known = steps()
    problems = []
    seen: dict[str, int] = {}
    for i, name in enumerate(order):
        if name not in known:
            problems.append(f"{where}[{i}]: {name!r} is not a known step; known: {', '.join(known)}")
        elif name in seen:
            problems.append(f"{where}[{i}]: {name!r} is listed twice (also at [{seen[name]}])")
        seen.setdefault(name, i)
    for i, name in enumerate(order):
        spec = known.get(name)
        if spec is None:
            continue
        for need in spec.needs:
            if need not in seen or seen[need] > i:
                problems.append(f"{where}[{i}]: {name!r} needs {need!r} before it" + (f" ({spec.why})" if spec.why else ""))
        for before in spec.after:
            if before in seen and seen[before] > i:
                problems.append(f"{where}[{i}]: {name!r} must come after {before!r}" + (f" ({spec.why})" if spec.why else ""))
        if spec.last and i != len(order) - 1:
            problems.append(f"{where}[{i}]: {name!r} must be the last step, but {order[i + 1]!r} follows it"
                            + (f" ({spec.why})" if spec.why else ""))
    return problems
