"""aiogram's Bot API models, built when first used instead of all at import.

`aiogram.types` defines about 400 pydantic models (with `defer_build=True`) and then rebuilds
every one of them at import, so that its forward references resolve. Each rebuilt model gets
its own validator and serializer with every model it refers to inlined: on this project's
machine `import aiogram` took 5 s of CPU and 134 MB of memory, while the bot validates a few
dozen of those types (an update, a message, a callback query, the answers of the calls it
makes; about 8 MB once built).

`import_aiogram()` imports aiogram with that rebuild step turned into "remember the
namespace", and gives aiogram's model bases (types, methods, answers) a `model_rebuild` that
always resolves against that namespace. pydantic then builds a model the first time it
validates or serializes one (its `defer_build` path), from the same annotations and the same
names as the eager rebuild: the same validators, made for the types in use only.

It must run before anything imports aiogram (the entry point, the test session, the
benchmark's worker); when aiogram is already imported it does nothing, and aiogram behaves as
it always does.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

_TYPES_PACKAGE = "aiogram.types."


def import_aiogram() -> bool:
    """Import aiogram with its models built on first use. False: it was imported already (its
    models were built eagerly, as aiogram does by itself)."""
    if "aiogram" in sys.modules:
        return False
    original = BaseModel.__dict__["model_rebuild"]
    eager = original.__func__
    namespace: dict[str, Any] = {}

    def remember(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: dict[str, Any] | None = None,
    ) -> bool | None:
        # Only aiogram's own import-time loop passes its types' namespace to its types.
        if _types_namespace is not None and cls.__module__.startswith(_TYPES_PACKAGE):
            namespace.update(_types_namespace)
            return None
        return eager(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )

    setattr(BaseModel, "model_rebuild", classmethod(remember))  # noqa: B010
    try:
        import aiogram  # noqa: F401  (its import builds or defers the models)
        from aiogram.client.context_controller import BotContextController
        from aiogram.methods.base import Response
    finally:
        setattr(BaseModel, "model_rebuild", original)  # noqa: B010
    if not namespace:  # aiogram no longer rebuilds at import: nothing was deferred
        return True

    def rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: dict[str, Any] | None = None,
    ) -> bool | None:
        # Always against aiogram's namespace: pydantic's on-first-use rebuild would otherwise
        # look names up in whichever caller's frame happens to be five levels up.
        return eager(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=0,
            _types_namespace={**namespace, **(_types_namespace or {})},
        )

    # Every type and method derives from BotContextController; Response[...] is an answer.
    for base in (BotContextController, Response):
        setattr(base, "model_rebuild", classmethod(rebuild))  # noqa: B010
    return True
