"""The recovery console's engine: neo.mjs Memory Core data dirs and bundles, with no UI imports.

Every long operation is a plain synchronous function that takes a progress callback and a cancel
token (a ``threading.Event``) and returns a result dataclass; the CLI, the TUI and the tests all call
the same functions.
"""

__version__ = "0.1.0"
