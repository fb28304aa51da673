"""Extra BLAST options: a user's option string, checked against a per-program allow-list, as argv.

The pipeline owns the query, database, output, output format, threads and
search-restriction files, so those options are refused with a note on what to
use instead; `-evalue` and `-max_target_seqs` are refused too, because the
search has its own `evalue` and `max_target_seqs` parameters and two places
for one value would disagree. Everything else that BLAST+ 2.12 offers for
searching can be given, and every value is type-checked here, so a typo fails
before any work starts instead of in every batch. Values are never free text:
each is a number, a choice or a fixed pattern, and the result is an argument
list for `subprocess` — no shell ever sees it.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from blastflow.errors import InputError
from blastflow.programs import PROGRAMS, check_program

__all__ = [
    "ALLOWED",
    "CONTROLLED",
    "SEARCH_PARAMETER_OPTIONS",
    "TASKS",
    "OptionSpec",
    "check_options",
    "search_options",
    "supported",
]

_ALL = frozenset(PROGRAMS)
_NUCL_QUERY = frozenset({"blastn", "blastx", "tblastx"})
_SCORED = frozenset({"blastp", "blastx", "tblastn", "tblastx"})  # use a substitution matrix
_GAPPED = _ALL - {"tblastx"}  # tblastx is ungapped only
_PROT_GAPPED = frozenset({"blastp", "blastx", "tblastn"})

TASKS: dict[str, tuple[str, ...]] = {
    "blastn": ("blastn", "blastn-short", "dc-megablast", "megablast", "rmblastn"),
    "blastp": ("blastp", "blastp-fast", "blastp-short"),
    "blastx": ("blastx", "blastx-fast"),
    "tblastn": ("tblastn", "tblastn-fast"),
}
MATRICES = ("BLOSUM45", "BLOSUM50", "BLOSUM62", "BLOSUM80", "BLOSUM90", "PAM30", "PAM70", "PAM250")
GENETIC_CODES = frozenset([*range(1, 7), *range(9, 17), *range(21, 32), 33])


@dataclass(frozen=True)
class OptionSpec:
    """What one BLAST option takes. `accepts(program, value)`; `describe(program)` for messages."""

    programs: frozenset[str]
    describe: Callable[[str], str] | None = None  # None: a flag without a value
    accepts: Callable[[str, str], bool] = lambda _p, _v: True
    incompatible: frozenset[str] = field(default_factory=frozenset)
    requires: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_flag(self) -> bool:
        return self.describe is None


def _int_value(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[+-]?\d{1,18}", text) else None


def _real_value(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _flag(programs: frozenset[str], **kw: frozenset[str]) -> OptionSpec:
    return OptionSpec(programs, **kw)


def _int(programs: frozenset[str], low: int | None = None, high: int | None = None, **kw: frozenset[str]) -> OptionSpec:
    def accepts(_program: str, text: str) -> bool:
        value = _int_value(text)
        return value is not None and (low is None or value >= low) and (high is None or value <= high)

    bounds = " and ".join(part for part in (low is not None and f">= {low}", high is not None and f"<= {high}") if part)
    return OptionSpec(programs, lambda _p: f"an integer{' ' + bounds if bounds else ''}", accepts, **kw)


def _real(
    programs: frozenset[str],
    low: float | None = None,
    high: float | None = None,
    *,
    open_interval: bool = False,
    **kw: frozenset[str],
) -> OptionSpec:
    def accepts(_program: str, text: str) -> bool:
        value = _real_value(text)
        if value is None:
            return False
        if open_interval:
            return (low is None or value > low) and (high is None or value < high)
        return (low is None or value >= low) and (high is None or value <= high)

    lo, hi = (">", "<") if open_interval else (">=", "<=")
    bounds = " and ".join(
        part for part in (low is not None and f"{lo} {low}", high is not None and f"{hi} {high}") if part
    )
    return OptionSpec(programs, lambda _p: f"a number{' ' + bounds if bounds else ''}", accepts, **kw)


def _choice(programs: frozenset[str], *choices: str, **kw: frozenset[str]) -> OptionSpec:
    return OptionSpec(programs, lambda _p: "one of " + ", ".join(choices), lambda _p, v: v in choices, **kw)


def _pattern(programs: frozenset[str], regex: str, shape: str, **kw: frozenset[str]) -> OptionSpec:
    return OptionSpec(programs, lambda _p: shape, lambda _p, v: re.fullmatch(regex, v) is not None, **kw)


def _gencode(programs: frozenset[str]) -> OptionSpec:
    return OptionSpec(
        programs,
        lambda _p: "a genetic code number (1-6, 9-16, 21-31 or 33)",
        lambda _p, v: _int_value(v) in GENETIC_CODES,
    )


_BOOL = ("true", "false")
_REAL = r"\d+(?:\.\d*)?"
_TASK = OptionSpec(
    frozenset(TASKS),
    lambda program: "one of " + ", ".join(TASKS.get(program, ())),
    lambda program, v: v in TASKS.get(program, ()),
)

# BLAST+ 2.12 search options a user may set, per program (tests check each against `<program> -help`).
ALLOWED: dict[str, OptionSpec] = {
    "-task": _TASK,
    "-query_loc": _pattern(_ALL, r"\d+-\d+", "a query range start-stop, e.g. 1-500"),
    "-strand": _choice(_NUCL_QUERY, "both", "minus", "plus"),
    "-word_size": OptionSpec(
        _ALL,
        lambda program: f"an integer >= {4 if program == 'blastn' else 2}",
        lambda program, v: (_int_value(v) or 0) >= (4 if program == "blastn" else 2),
    ),
    "-gapopen": _int(_GAPPED, 0),
    "-gapextend": _int(_GAPPED, 0),
    "-penalty": _int(frozenset({"blastn"}), high=0),
    "-reward": _int(frozenset({"blastn"}), 0),
    "-matrix": _choice(_SCORED, *MATRICES),
    "-threshold": _real(_SCORED, 0),
    "-comp_based_stats": _choice(_PROT_GAPPED, "0", "1", "2", "3", "D", "d", "F", "f", "T", "t"),
    "-query_gencode": _gencode(frozenset({"blastx", "tblastx"})),
    "-db_gencode": _gencode(frozenset({"tblastn", "tblastx"})),
    "-max_intron_length": _int(frozenset({"blastx", "tblastn", "tblastx"}), 0),
    "-dust": _pattern(frozenset({"blastn"}), r"yes|no|\d+ \d+ \d+", "'yes', 'no' or 'level window linker'"),
    "-seg": _pattern(_SCORED, rf"yes|no|\d+ {_REAL} {_REAL}", "'yes', 'no' or 'window locut hicut'"),
    "-soft_masking": _choice(_ALL, *_BOOL),
    "-lcase_masking": _flag(_ALL),
    "-perc_identity": _real(frozenset({"blastn"}), 0, 100),
    "-qcov_hsp_perc": _real(_ALL, 0, 100),
    "-max_hsps": _int(_ALL, 1),
    "-culling_limit": _int(_ALL, 0, incompatible=frozenset({"-best_hit_overhang", "-best_hit_score_edge"})),
    "-best_hit_overhang": _real(_ALL, 0, 0.5, open_interval=True, incompatible=frozenset({"-culling_limit"})),
    "-best_hit_score_edge": _real(_ALL, 0, 0.5, open_interval=True, incompatible=frozenset({"-culling_limit"})),
    "-subject_besthit": _flag(_ALL),
    "-template_type": _choice(
        frozenset({"blastn"}), "coding", "coding_and_optimal", "optimal", requires=frozenset({"-template_length"})
    ),
    "-template_length": _choice(frozenset({"blastn"}), "16", "18", "21", requires=frozenset({"-template_type"})),
    "-dbsize": _int(_ALL, 1),
    "-searchsp": _int(_ALL, 0),
    "-sum_stats": _choice(_ALL - {"blastp"}, *_BOOL),
    "-xdrop_ungap": _real(_ALL, 0),
    "-xdrop_gap": _real(_GAPPED, 0),
    "-xdrop_gap_final": _real(_GAPPED, 0),
    "-no_greedy": _flag(frozenset({"blastn"})),
    "-min_raw_gapped_score": _int(frozenset({"blastn"})),
    "-off_diagonal_range": _int(frozenset({"blastn"}), 0),
    "-ungapped": _flag(_GAPPED),
    "-window_size": _int(_ALL, 0),
    "-use_sw_tback": _flag(_PROT_GAPPED),
    "-parse_deflines": _flag(_ALL),
}

_PIPELINE = "blastflow sets it"
# Options the pipeline controls or cannot honour: option -> why, and what to do instead.
CONTROLLED: dict[str, str] = {
    "-query": f"{_PIPELINE}: give the query as the search's query parameter",
    "-db": f"{_PIPELINE}: give the database as the search's db parameter",
    "-out": f"{_PIPELINE}: each batch writes its own archive and results are collected at the end",
    "-outfmt": f"{_PIPELINE} to 11 (BLAST archive); results come as a hits table and a merged archive "
    "that blast_formatter turns into any other format",
    "-num_threads": f"{_PIPELINE} from the cores available to each batch",
    "-mt_mode": f"{_PIPELINE}: threading is chosen per batch",
    "-evalue": "use the search's evalue parameter (--evalue) instead",
    "-max_target_seqs": "use the search's max_target_seqs parameter (--max-target-seqs) instead",
    "-num_descriptions": "results are archived; use the max_target_seqs parameter to limit hits",
    "-num_alignments": "results are archived; use the max_target_seqs parameter to limit hits",
    "-remote": "searches run on the chosen backend, never at NCBI",
    "-entrez_query": "needs -remote, which blastflow does not use",
    "-subject": "blastflow searches a database: give the subject FASTA as the db parameter",
    "-subject_loc": "blastflow searches a database, not a subject sequence",
    "-html": "results are archived (format 11); formatting happens after the search",
    "-show_gis": "a formatting option: results are archived and formatted after the search",
    "-line_length": "a formatting option: results are archived and formatted after the search",
    "-sorthits": "a formatting option: results are archived and formatted after the search",
    "-sorthsps": "a formatting option: results are archived and formatted after the search",
    "-import_search_strategy": "the search is defined by the search's parameters",
    "-export_search_strategy": "the search's parameters are recorded with the job",
    "-seqidlist": "restricting the database with a file is not supported (the file must reach every batch)",
    "-negative_seqidlist": "restricting the database with a file is not supported",
    "-gilist": "restricting the database with a file is not supported (the file must reach every batch)",
    "-negative_gilist": "restricting the database with a file is not supported",
    "-use_index": "megablast database indexes are not supported",
    "-index_name": "megablast database indexes are not supported",
    "-h": "help is not a search option",
    "-help": "help is not a search option",
    "-version": "not a search option",
}


# Refused from the user but written by `search_options` itself, from the search's own parameters.
SEARCH_PARAMETER_OPTIONS = frozenset({"-evalue", "-max_target_seqs"})


def check_options(program: str, text: str) -> list[str]:
    """Parse a BLAST option string and check it against `program`'s allow-list.

    Args:
        program: the BLAST program the options are for.
        text: options as typed on a command line, e.g. `-word_size 3 -seg "12 2.2 2.5"`.

    Returns:
        The options as an argument list, in the order given.

    Raises:
        InputError: unbalanced quotes, an option the pipeline controls, an option
            the program does not have, a missing or wrong-typed value, a repeated
            option, or options that cannot go together.

    Example:
        >>> check_options("blastp", '-word_size 3 -seg "12 2.2 2.5" -lcase_masking')
        ['-word_size', '3', '-seg', '12 2.2 2.5', '-lcase_masking']
        >>> check_options("blastn", "-out x.txt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        blastflow.errors.InputError: option -out is not allowed: blastflow sets it: each batch writes its own archive...
    """
    check_program(program)
    try:
        tokens = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise _error(f"cannot read the BLAST options {text!r}: {exc}; check the quotes") from exc
    argv: list[str] = []
    given: dict[str, str | None] = {}
    i = 0
    while i < len(tokens):
        name = tokens[i]
        spec = _spec_for(program, name)
        value = None
        if not spec.is_flag:
            if i + 1 >= len(tokens):
                raise _error(f"option {name} needs a value: {spec.describe(program)}")  # type: ignore[misc]
            value = tokens[i + 1]
            if not spec.accepts(program, value):
                raise _error(f"option {name} takes {spec.describe(program)}, not {value!r}")  # type: ignore[misc]
        if name in given:
            raise _error(f"option {name} is given twice: keep one")
        given[name] = value
        argv.extend([name] if value is None else [name, value])
        i += 1 if value is None else 2
    _check_combinations(given)
    return argv


def search_options(program: str, text: str, evalue: float, max_target_seqs: int) -> list[str]:
    """The full option list of a search: the checked user options, then `-evalue` and `-max_target_seqs`.

    >>> search_options("blastp", "-seg yes", 1e-5, 10)
    ['-seg', 'yes', '-evalue', '1e-05', '-max_target_seqs', '10']
    """
    if not (math.isfinite(evalue) and evalue > 0):
        raise _error(f"evalue must be a positive number, not {evalue!r}")
    if max_target_seqs < 1:
        raise _error(f"max_target_seqs must be at least 1, not {max_target_seqs}")
    return [*check_options(program, text), "-evalue", repr(float(evalue)), "-max_target_seqs", str(max_target_seqs)]


def _spec_for(program: str, name: str) -> OptionSpec:
    if name in CONTROLLED:
        raise _error(f"option {name} is not allowed: {CONTROLLED[name]}")
    if not name.startswith("-") or len(name) < 2:
        raise _error(f"expected an option such as -word_size, found {name!r}: options look like '-name value'")
    spec = ALLOWED.get(name)
    if spec is None:
        raise _error(
            f"option {name} is not supported for {program} by blastflow; "
            f"supported options: {' '.join(supported(program))}"
        )
    if program not in spec.programs:
        raise _error(f"option {name} does not apply to {program}; it is for {', '.join(sorted(spec.programs))}")
    return spec


def supported(program: str) -> list[str]:
    """The options `program` accepts here, in allow-list order."""
    return [name for name, spec in ALLOWED.items() if program in spec.programs]


def _check_combinations(given: dict[str, str | None]) -> None:
    for name in given:
        spec = ALLOWED[name]
        clash = sorted(spec.incompatible & given.keys())
        if clash:
            raise _error(f"options {name} and {clash[0]} cannot be used together: keep one")
        missing = sorted(spec.requires - given.keys())
        if missing:
            raise _error(f"option {name} needs {' and '.join(missing)} as well")


def _error(message: str) -> InputError:
    return InputError(message, code="invalid_options")
