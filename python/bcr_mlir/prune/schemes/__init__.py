"""The pruning schemes and the name -> scheme registry."""
from __future__ import annotations

import dataclasses

from .base import Scheme
from .baselines import NM, Unstructured
from .bcr import BCR
from .kgs import KGS, Group, KGSVanilla
from .pattern import Pattern

SCHEMES: dict[str, type[Scheme]] = {cls.name: cls for cls in (BCR, Pattern, KGS, KGSVanilla, Group, Unstructured, NM)}

__all__ = ["Scheme", "SCHEMES", "BCR", "Pattern", "KGS", "KGSVanilla", "Group", "Unstructured", "NM",
           "make_scheme", "scheme_class"]


def scheme_class(name: str) -> type[Scheme]:
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown scheme {name!r}; use one of {', '.join(SCHEMES)}") from None


def make_scheme(scheme: "str | Scheme", **options) -> Scheme:
    """A scheme from its name and options (`make_scheme("bcr", rate=8, block=(4, 16))`)."""
    if isinstance(scheme, Scheme):
        return dataclasses.replace(scheme, **options) if options else scheme
    cls = scheme_class(scheme)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise ValueError(f"scheme {scheme!r} has no option {unknown[0]!r}; its options are {', '.join(known)}")
    return cls(**options)
