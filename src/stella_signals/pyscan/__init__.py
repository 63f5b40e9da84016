"""Static call graphs of Python projects (SPEC §14): `stella graph scan`.

`_naming` holds SPEC §14's naming rules alone (the runtime probe mirrors it); `_walker` and
`_resolve` are the two passes over the standard library's `ast`; `_sources` finds the files
(a project tree, an interpreter's installed distributions); `_scan` builds the graph.
"""

from stella_signals.pyscan._naming import (
    clean_qualname,
    display_name,
    generic_purl,
    module_name_from_path,
    normalise_dist,
    pypi_purl,
    symbol_id,
)
from stella_signals.pyscan._scan import ANALYZER_NAME, ScanResult, scan_sources
from stella_signals.pyscan._sources import (
    Distribution,
    SourceFile,
    installed_distributions,
    interpreter_for,
    project_sources,
)

__all__ = [
    "ANALYZER_NAME",
    "Distribution",
    "ScanResult",
    "SourceFile",
    "clean_qualname",
    "display_name",
    "generic_purl",
    "installed_distributions",
    "interpreter_for",
    "module_name_from_path",
    "normalise_dist",
    "project_sources",
    "pypi_purl",
    "scan_sources",
    "symbol_id",
]
