"""blastflow: BLAST searches orchestrated by Prefect, with sanitised step state in a store.

Import from the modules (`blastflow.merge`, `blastflow.sanitise`, …): the package
re-exports nothing, so `blastflow.sanitise` is always the module, never the function.
"""

import warnings

__version__ = "0.1.0"

# kubernetes_asyncio ships a stray site-packages/pyproject.toml, which makes every
# Biopython import warn that it runs "from inside the source tree". It does not.
warnings.filterwarnings("ignore", message="You may be importing Biopython from inside the source tree")
