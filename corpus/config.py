"""What every configuration of the toolkit shares: strict pydantic models, `${VAR}` expansion, one error format.

The corpus manifest, the qa-synth manifest and the training config are all validated by a model with
`extra="forbid"`, so a misspelt key is an error naming it, and their errors read alike: one line per
problem, `where: what is wrong (got value)`. A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the field and what is allowed."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def format_validation_error(err: ValidationError, origin: str, what: str = "manifest") -> str:
    lines = []
    for e in err.errors():
        where = _loc(e["loc"])
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
