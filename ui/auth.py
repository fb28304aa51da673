"""The page's login gate: when started with ``-- --auth oidc`` nothing of any job shows before `st.login`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAuthError

__all__ = ["auth_required", "login_providers", "require_login"]

PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def auth_required(argv: Sequence[str]) -> bool:
    """Whether ``--auth MODE`` after ``--`` on the streamlit command line asks for a login (any MODE but none).

    `blastflow ui` passes ``--auth oidc`` or ``--auth none``; without it (a bare `streamlit run`) there is no login.

    Example:
        >>> auth_required(["--auth", "oidc", "--store", "sqlite:///x.db"]), auth_required([]), auth_required(["--au"])
        (True, False, False)
    """
    parser = argparse.ArgumentParser(prog="ui/app.py", add_help=False, allow_abbrev=False)
    parser.add_argument("--auth", default="none")
    args, _ = parser.parse_known_args(list(argv))
    return str(args.auth) != "none"  # any other word asks for the login: a typo must not open the page


def login_providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The names to pass to `st.login`: each complete ``[auth.NAME]`` table, else None for ``[auth]`` itself.

    Example:
        >>> keys = {"client_id": "i", "client_secret": "s", "server_metadata_url": "u"}
        >>> login_providers({"google": keys, "microsoft": keys}), login_providers(keys)
        (['google', 'microsoft'], [None])
    """
    named = [name for name, table in auth.items() if isinstance(table, Mapping) and "_" not in name
             and all(table.get(key) for key in PROVIDER_KEYS)]
    return named or [None]


def require_login(argv: Sequence[str]) -> bool:
    """True when the page may show jobs: no login is required, or the user has logged in.

    Otherwise it shows a short text and a "Log in" button per provider and returns False: the caller stops.
    A logged-in user gets a "Log out" button in the sidebar.
    """
    if not auth_required(argv):
        return True
    if not st.user.get("is_logged_in", False):  # missing when Streamlit found no [auth]: not logged in
        _login_prompt()
        return False
    if st.sidebar.button("Log out", key="logout", icon=":material/logout:"):
        st.logout()
    return True


def _login_prompt() -> None:
    st.title("blastflow")
    st.text("This monitoring page shows BLAST jobs to signed-in users only.")
    auth = st.secrets.get("auth", {}) if st.secrets.load_if_toml_exists() else {}
    for provider in login_providers(auth if isinstance(auth, Mapping) else {}):
        label = "Log in" if provider is None else f"Log in with {provider.title()}"
        if st.button(label, key=f"login-{provider or 'default'}", type="primary"):
            _login(provider)


def _login(provider: str | None) -> None:
    try:
        st.login(provider)
    except StreamlitAuthError as err:  # the server read no usable [auth]: say so rather than show a traceback
        st.error("The login is not configured for this server. Check the [auth] table of .streamlit/secrets.toml.")
        st.text(str(err))
