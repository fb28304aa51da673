"""Where the monitoring page listens and whether it asks for a login, and the `streamlit run` command for it.

The rules (issue 13, item 3):

- the page binds to 127.0.0.1 unless ``--host`` names another address;
- a loopback host (127.0.0.0/8, ::1, localhost) needs no login;
- any other host needs Streamlit's OIDC login (``st.login``) configured in a ``[auth]`` table of a secrets.toml
  that Streamlit reads, or an explicit ``--no-auth``; otherwise the start is refused with a `ConfigError`;
- when a complete ``[auth]`` is configured the page asks for the login on any host, unless ``--no-auth``.

The app learns the decision from ``-- --auth oidc|none`` on its command line (as it learns ``--store``).
Secret values are read only to see that they are filled; no message ever contains one.
"""

from __future__ import annotations

import ipaddress
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from blastflow.errors import ConfigError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "PageServer",
    "exposure_warning",
    "is_loopback",
    "missing_auth_keys",
    "plan",
    "plan_from_files",
    "read_auth_section",
    "secrets_files",
    "streamlit_argv",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
AuthMode = Literal["oidc", "none"]
SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
EXAMPLE = "deployments/streamlit/secrets.example.toml"


@dataclass(frozen=True)
class PageServer:
    """The decided address, port and login mode of one page server."""

    host: str
    port: int
    auth: AuthMode

    @property
    def exposed(self) -> bool:
        """True when others than this machine's users may reach the page."""
        return not is_loopback(self.host)

    @property
    def url(self) -> str:
        """The page's address as a browser would write it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only.

    Example:
        >>> [is_loopback(h) for h in ("127.0.0.1", "127.3.0.9", "::1", "[::1]", "localhost", "0.0.0.0", "::")]
        [True, True, True, True, True, False, False]
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as exposed


def secrets_files(cwd: Path, home: Path, app: Path) -> list[Path]:
    """The secrets.toml files Streamlit 1.67 reads by default (its `secrets.files` option), first to last.

    A later file replaces an earlier file's top-level tables, so a project ``[auth]`` wins over the user's.
    """
    files = [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]
    script_level = app.resolve().parent / ".streamlit" / "secrets.toml"
    return files if script_level in files else [*files, script_level]


def read_auth_section(files: Sequence[Path]) -> Mapping[str, Any] | None:
    """The ``[auth]`` table Streamlit would see after reading `files` in order, or None.

    Raises:
        ConfigError: a file is not valid TOML (the message names the file and the line, never its text).
    """
    merged: dict[str, Any] = {}
    for path in files:
        if not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path} is not valid TOML ({err}); fix it or move it away") from None
    auth = merged.get("auth")
    return auth if isinstance(auth, Mapping) else None


def missing_auth_keys(auth: Mapping[str, Any] | None) -> list[str]:
    """What a login configuration still lacks, as dotted key names; empty when `st.login` can work.

    The provider keys may sit in ``[auth]`` itself or in one provider table such as ``[auth.google]``.

    Example:
        >>> missing_auth_keys({"redirect_uri": "http://h:8501/oauth2callback", "cookie_secret": "s",
        ...                    "google": {"client_id": "i", "client_secret": "s"}})
        ['auth.google.server_metadata_url']
        >>> missing_auth_keys(None)
        ['[auth]']
    """
    if auth is None:
        return ["[auth]"]
    missing = [f"auth.{key}" for key in SHARED_KEYS if not _filled(auth.get(key))]
    return missing + _missing_provider_keys(auth)


def _missing_provider_keys(auth: Mapping[str, Any]) -> list[str]:
    candidates: dict[str, Mapping[str, Any]] = {"auth.": auth}
    # Streamlit refuses provider names with "_"; that also leaves out [auth.client_kwargs].
    candidates |= {f"auth.{name}.": table for name, table in auth.items() if isinstance(table, Mapping)
                   and "_" not in name}
    gaps = {prefix: [key for key in PROVIDER_KEYS if not _filled(table.get(key))]
            for prefix, table in candidates.items()}
    if any(not keys for keys in gaps.values()):
        return []
    prefix, keys = min(gaps.items(), key=lambda item: len(item[1]))  # name the gaps of the nearest provider
    return [prefix + key for key in keys]


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def plan(host: str, port: int, *, no_auth: bool, auth: Mapping[str, Any] | None,
         files: Sequence[Path] = ()) -> PageServer:
    """Decide the login mode for serving on `host`:`port`, given the ``[auth]`` table Streamlit would read.

    Args:
        host: the bind address (``--host``).
        port: the port (``--port``).
        no_auth: ``--no-auth``: serve without a login wherever the page listens.
        auth: the ``[auth]`` table (`read_auth_section`), or None.
        files: the secrets files that were read, for the refusal message.

    Raises:
        ConfigError: the host is empty, or it is not loopback and there is neither a login nor ``--no-auth``.
    """
    if not host.strip() or any(ch.isspace() for ch in host.strip()):
        raise ConfigError(f"--host {host!r} is not an address; give an IP address or host name, e.g. 0.0.0.0")
    host = host.strip().strip("[]")  # the server wants a bare IPv6 address
    if no_auth:
        return PageServer(host, port, "none")
    missing = missing_auth_keys(auth)
    if not missing:
        return PageServer(host, port, "oidc")
    server = PageServer(host, port, "none")
    if server.exposed:
        raise ConfigError(_refusal(server, missing, files))
    return server


def _refusal(server: PageServer, missing: Sequence[str], files: Sequence[Path]) -> str:
    looked_at = ", ".join(str(path) for path in files) or ".streamlit/secrets.toml"
    return (
        f"refusing to serve the monitoring page on {server.host} without a login: anyone who can reach "
        f"{server.url} would see every job, its logs and results. Either configure Streamlit's login in an [auth] "
        f"table of .streamlit/secrets.toml (looked at: {looked_at}; missing: {', '.join(missing)}; "
        f"redirect_uri is the address users open plus /oauth2callback, e.g. http://HOST:{server.port}/oauth2callback; "
        f"example: "
        f"{EXAMPLE}), or pass --no-auth to serve it to everyone on purpose."
    )


def plan_from_files(host: str, port: int, *, no_auth: bool, app: Path, cwd: Path | None = None,
                    home: Path | None = None) -> PageServer:
    """`plan` with the ``[auth]`` table read from the secrets files Streamlit will read (`secrets_files`)."""
    files = secrets_files(cwd or Path.cwd(), home or Path.home(), app)
    return plan(host, port, no_auth=no_auth, auth=read_auth_section(files), files=files)


def exposure_warning(server: PageServer) -> str | None:
    """The warning for serving beyond this machine without a login, or None when there is nothing to warn of."""
    if server.auth == "none" and server.exposed:
        return (f"--no-auth: anyone who can reach {server.url} sees every job, its logs and results. "
                "Configure [auth] in .streamlit/secrets.toml to require a login.")
    return None


def streamlit_argv(server: PageServer, app: Path, python: str = sys.executable) -> list[str]:
    """The command that serves `app` as `server` says; the app reads ``--auth`` after ``--``.

    Example:
        >>> streamlit_argv(PageServer("127.0.0.1", 8501, "none"), Path("ui/app.py"), "python")[:7]
        ['python', '-m', 'streamlit', 'run', 'ui/app.py', '--server.address', '127.0.0.1']
        >>> streamlit_argv(PageServer("0.0.0.0", 8502, "oidc"), Path("ui/app.py"), "python")[-3:]
        ['--', '--auth', 'oidc']
    """
    return [
        python, "-m", "streamlit", "run", str(app),
        "--server.address", server.host,
        "--server.port", str(server.port),
        "--server.headless", "true",
        "--", "--auth", server.auth,
    ]  # fmt: skip
