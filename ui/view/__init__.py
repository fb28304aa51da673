"""What the monitoring page shows, decided by pure functions of job data: one concern per module, no Streamlit.

The page files only render what these functions return, so every decision a
user can see (which step spins, which text goes in the failure banner, when
the page stops refreshing, when the tab switches) is tested without a browser.

- `ui.view.header`: the job page header, status badges, times and the Prefect link.
- `ui.view.failure`: the failure banner and the step a job failed at.
- `ui.view.timeline`: how each step shows on the execution timeline.
- `ui.view.console`: the bounded log tail of a step and its one console block.
- `ui.view.refresh`: when the pages refresh and when the job page switches tab.
- `ui.view.job_list`: the job list's filter and rows.
- `ui.view.markdown`: escaping job text for the few places that take Markdown.

The hits table of the results tabs is shaped in `ui.hit_table`, beside the pages that show it.
"""
