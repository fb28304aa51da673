"""blastflow: BLAST searches orchestrated by Prefect, with sanitised step state in a store.

Import from the modules (`blastflow.merge`, `blastflow.sanitise`, …): the package
re-exports nothing, so `blastflow.sanitise` is always the module, never the function.
"""

__version__ = "0.1.0"
