"""What every configuration of the toolkit shares: strict pydantic models, `${VAR}` expansion, one error format.

The corpus manifest, the qa-synth manifest and the training config are all validated by a model with
`extra="forbid"`, so a misspelt key is an error naming it, and their errors read alike: one line per
problem, `where: what is wrong (got value)`. A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Iterator, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the field and what is allowed."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathRole:
    """Marks a string field as a filesystem path: resolved against the config file's folder when loaded, and, for
    role "input", one of the things a build reads (the output folder must lie apart from each)."""

    def __init__(self, role: str):
        self.role = role

    def __repr__(self) -> str:
        return f"PathRole({self.role!r})"


InputPath = Annotated[str, PathRole("input")]  # a file, folder or glob the build reads
LocalPath = Annotated[str, PathRole("local")]  # a path resolved like the inputs that is not one (a cache)


def _role(annotation: Any) -> str | None:
    """The PathRole in an annotation, looking through Optional, list and Annotated."""
    if get_origin(annotation) is Annotated:
        for m in annotation.__metadata__:
            if isinstance(m, PathRole):
                return m.role
    for arg in get_args(annotation):
        if role := _role(arg):
            return role
    return None


def _field_role(field: Any) -> str | None:
    # pydantic moves a top-level Annotated's metadata onto the field; nested ones (list[InputPath]) stay in the type
    return next((m.role for m in field.metadata if isinstance(m, PathRole)), None) or _role(field.annotation)


def resolve_path(base: Path, p: str) -> str:
    """`p` with ~ expanded, made absolute against `base` when relative."""
    path = Path(os.path.expanduser(p))
    return str(path if path.is_absolute() else (base / path).resolve())


def resolve_paths(model: BaseModel, base: Path) -> dict:
    """The model's data with every path field (InputPath, LocalPath, in nested models and lists) resolved against
    `base`; validate the result again to get the model back."""
    data = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if _field_role(field) and value is not None:
            data[name] = [resolve_path(base, v) for v in value] if isinstance(value, (list, tuple)) else resolve_path(base, value)
        elif isinstance(value, BaseModel):
            data[name] = resolve_paths(value, base)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, BaseModel) for v in value):
            data[name] = [resolve_paths(v, base) for v in value]
        else:
            data[name] = value
    return data


def path_fields(model: BaseModel, where: str = "", role: str = "input") -> Iterator[tuple[str, str]]:
    """(field location, path) of every path field of `role` that is set, in nested models and lists."""
    for name, field in type(model).model_fields.items():
        value, loc = getattr(model, name), f"{where}.{name}" if where else name
        if _field_role(field) == role and value:
            if isinstance(value, (list, tuple)):
                yield from ((f"{loc}[{j}]", v) for j, v in enumerate(value))
            else:
                yield loc, value
        elif isinstance(value, BaseModel):
            yield from path_fields(value, loc, role)
        elif isinstance(value, (list, tuple)):
            for j, v in enumerate(value):
                if isinstance(v, BaseModel):
                    yield from path_fields(v, f"{loc}[{j}]", role)


def expand_env(value: Any, where: str) -> Any:
    """`${VAR}` and `${VAR:-default}` in every string of a loaded YAML tree; ConfigError naming the field of an unset one."""
    if isinstance(value, str):

        def repl(m: re.Match) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            raise ConfigError(f"{where}: environment variable {var} is not set (used as ${{{var}}}); export it or give a default as ${{{var}:-...}}")

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(err: ValidationError, origin: str, what: str = "manifest", prefix: str = "") -> str:
    """One line per problem, `where: what is wrong (got value)`; `prefix` places the locations inside a larger config
    (a plugin step's settings are `steps.plugins.<name>`)."""
    lines = []
    for e in err.errors():
        where = ".".join(p for p in (prefix, _loc(e["loc"])) if p)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown field (check its spelling and indentation)")
        elif e["type"] == "missing":
            lines.append(f"{where}: required field is missing")
        elif e["type"] == "literal_error":
            lines.append(f"{where}: {e['input']!r} is not allowed; {msg.lower()}")
        elif where:
            lines.append(f"{where}: {msg} (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else f"{where}: {msg}")
        else:
            lines.append(msg)
    return f"{origin}: invalid {what}\n  " + "\n  ".join(lines)


def read_config(path: str | os.PathLike, model: type[BaseModel], what: str, shape: str) -> Any:
    """A YAML config file read, `${VAR}`-expanded and validated into `model`; ConfigError naming the file and field
    (`what` names the kind of file, `shape` the keys a valid one has) before anything else happens."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a {what} is a YAML mapping with {shape}")
    raw = expand_env(raw, "")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path), what)) from None
