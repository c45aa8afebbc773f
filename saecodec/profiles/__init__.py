"""Coding profiles, chosen from one table: ``rd`` (rate-distortion, format 1.1; the default), ``paper``
(the paper's SAE, format 1.0) and ``overfit`` (latent grids and a network trained per image, format 1.3). Each shares the interface of :class:`~saecodec.profiles.common.Profile`."""

from __future__ import annotations

from typing import Any, Mapping

from ..choices import implied_profile
from ..errors import InputError
from . import overfit, paper, rd
from .common import Profile

__all__ = ["PROFILES", "DEFAULT_PROFILE", "choose_profile"]

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (rd.PROFILE, paper.PROFILE, overfit.PROFILE)}
DEFAULT_PROFILE = "rd"


def _owner(option: str) -> str:
    return next(name for name, profile in PROFILES.items() if option in profile.options)


def choose_profile(profile: str | None, options: Mapping[str, Any]) -> Profile:
    """The profile named, or (``profile=None``) the one the options imply (saecodec.choices.implied_profile:
    ``level=2`` or ``seed`` mean the paper's SAE, ``effort`` the overfit profile, nothing special the default).
    Options of another profile than the chosen one, or of none, are an InputError."""
    given = [name for name, value in options.items() if value is not None]
    unknown = [name for name in given if not any(name in p.options for p in PROFILES.values())]
    if unknown:
        raise InputError(f"unknown encode option(s): {', '.join(unknown)}")
    if profile is None:
        profile = implied_profile(given, {name: p.options for name, p in PROFILES.items()}, DEFAULT_PROFILE)
    if profile not in PROFILES:
        raise InputError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    chosen = PROFILES[profile]
    wrong = [name for name in given if name not in chosen.options]
    if wrong:
        raise InputError(f"{', '.join(wrong)} applies to the {_owner(wrong[0])} profile, not to {profile!r}")
    return chosen
