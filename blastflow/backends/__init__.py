"""Backends by name: `get_backend("local")`; each is imported only when asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from blastflow.errors import ConfigError

if TYPE_CHECKING:
    from blastflow.backends.base import Backend
    from blastflow.settings import Settings

__all__ = ["BACKENDS", "get_backend"]

# name -> (module, class). Imported lazily: a backend's dependencies load only when it is used.
BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("blastflow.backends.local.backend", "LocalBackend"),
    "elastic-blast": ("blastflow.backends.elastic_blast.backend", "ElasticBlastBackend"),
}


def get_backend(name: str, settings: Settings | None = None) -> Backend:
    """The backend called `name`, built with `settings` (default: from the environment).

    Raises:
        ConfigError: no backend has that name, or its module is not available.

    Example:
        >>> get_backend("local").name
        'local'
    """
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}", code="unknown_backend")
    module_name, class_name = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the backend exists but one of its own imports is missing: show that error as it is
        raise ConfigError(
            f"the {name!r} backend is not available in this installation (module {module_name} is missing)",
            code="unknown_backend",
        ) from exc
    backend_class = getattr(module, class_name, None)
    if backend_class is None:
        raise ConfigError(f"the {name!r} backend is incomplete: {module_name} defines no {class_name}")
    return backend_class(settings)
