"""Settings read from the environment that decide how a run goes, without importing the VTEX
client (and httpx) on the offline path."""

from __future__ import annotations

from collections.abc import Mapping

VTEX_VARIABLES = ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VTEX_BASE_URL")


def credentials_configured(env: Mapping[str, str]) -> bool:
    """Online mode is on when any VTEX credential variable is set (a partial setup is then
    reported as an error rather than silently running offline)."""
    return any(env.get(name) for name in VTEX_VARIABLES)
