"""The page's store: which URL (``-- --store URL``, else the settings) and one open store per URL per server."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import streamlit as st

from blastflow.settings import Settings
from blastflow.store import open_store
from blastflow.store.base import StateStore
from blastflow.store.connection import resolve_store_url

__all__ = ["get_store", "page_settings", "store_url"]


def page_settings() -> Settings:
    """Settings read fresh from the environment on each full run of the page."""
    return Settings()


def store_url(argv: Sequence[str], settings: Settings) -> str:
    """The store URL: ``--store URL`` after ``--`` on the streamlit command line, else the settings'.

    Example:
        >>> store_url(["--store", "sqlite:///tmp/x.db"], Settings(store_url=None))
        'sqlite:///tmp/x.db'
        >>> store_url([], Settings(store_url="sqlite:///tmp/y.db"))
        'sqlite:///tmp/y.db'
    """
    parser = argparse.ArgumentParser(prog="ui/app.py", add_help=False)
    parser.add_argument("--store", default=None)
    args, _ = parser.parse_known_args(list(argv))
    if args.store:
        return str(args.store)
    if settings.store_url is not None and settings.store_url.get_secret_value().strip():
        return settings.store_url.get_secret_value()
    return _url_from_blocks(settings.table_secret_block, settings.azure_credentials_block, str(settings.data_dir))


@st.cache_resource(show_spinner=False, max_entries=4)
def _url_from_blocks(secret_block: str | None, credentials_block: str | None, data_dir: str) -> str:
    # Loading a Prefect block is a round trip: once per configuration, not on every run.
    return resolve_store_url(
        Settings(table_secret_block=secret_block, azure_credentials_block=credentials_block, data_dir=data_dir)
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def get_store(url: str) -> StateStore:
    """The store for `url`, opened once and shared by every session of this server.

    Only the connection is cached; every read of a job goes to the store (fix P1).
    """
    return open_store(url)
