"""The monitoring page: `streamlit run ui/app.py -- --store URL` (or `blastflow ui`).

Only wires the pages: the job list, or the job named by `?job=<id>` in the URL.
"""

from __future__ import annotations

import sys

import streamlit as st

from blastflow.errors import BlastflowError
from ui import job_list, job_page
from ui.auth import require_login
from ui.connection import get_store, page_settings, store_url


def main() -> None:
    st.set_page_config(page_title="blastflow", page_icon=":material/biotech:", layout="wide")
    if not require_login(sys.argv[1:]):
        return  # nothing of any job before the login
    settings = page_settings()
    try:
        store = get_store(store_url(sys.argv[1:], settings))
    except BlastflowError as err:
        st.error("The job store could not be opened. Check BLASTFLOW_STORE_URL or `-- --store URL`.")
        st.code(str(err), language=None, wrap_lines=True)
        return
    job_id = st.query_params.get("job")
    if job_id:
        job_page.render(store, job_id, settings.prefect_ui_url)
    else:
        job_list.render(store)


main()
