"""How long the result formats and the Alignments view take: first request (rendered) and later ones (cached).

Formats: the 473 sample transcripts searched with blastn against themselves in batches, exactly as the local
backend runs them (`LocalConfig.pod_argv`), merged by finalize's `merge_results`, then each format asked for twice.
Alignments: one sample protein against the 1,189 proteins with a permissive e-value, so it has 500 hits; the
XML render and index (what finalize does in `_prerender_alignments`), then opening pages of ten hits as the tab does.

    .venv/bin/python bench/bench_results_views.py            # about a minute
    .venv/bin/python bench/bench_results_views.py --smoke    # what CI runs: small inputs
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from Bio import SeqIO  # noqa: E402

from blastflow.alignments import alignment_index, format_hsp, query_alignments  # noqa: E402
from blastflow.backends.local.run_files import LocalConfig  # noqa: E402
from blastflow.batch import write_batches  # noqa: E402
from blastflow.formats import formatted  # noqa: E402
from blastflow.options import search_options  # noqa: E402
from blastflow.query import read_fasta  # noqa: E402
from blastflow.results import merge_results  # noqa: E402

__all__ = ["main"]

DATA = REPO / "data" / "sinvicta"
FORMATS = ("pairwise", "xml", "tabular-comments", "sam", "csv")


def _timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def _search_in_batches(base: Path, records: int, batch_len: int) -> tuple[Path, int, int]:
    """blastn of `records` transcripts against all of them, batch by batch; the merged results directory."""
    fasta = DATA / "Sinvicta2-2-3.cdna.subset.fasta"
    db = base / "db" / "cdna"
    subprocess.run(["makeblastdb", "-in", str(fasta), "-dbtype", "nucl", "-out", str(db), "-parse_seqids"],
                   capture_output=True, check=True)  # fmt: skip
    with fasta.open() as handle:
        queries = list(read_fasta(handle, str(fasta)))[:records]
    batches = write_batches(queries, batch_len, base / "query_batches")
    config = LocalConfig(job_id="bench", program="blastn", blast=shutil.which("blastn") or "blastn", database=str(db),
                         database_label="cdna", molecule="nucl", options=search_options("blastn", "", 1e-5, 10),
                         batches=batches, workdir=base, max_parallel=1, threads_per_pod=2, batch_retries=0,
                         retry_backoff_s=0)  # fmt: skip
    archives = []
    for batch in batches:
        archives.append(base / "archives" / f"{batch.name}.asn")
        archives[-1].parent.mkdir(exist_ok=True)
        subprocess.run(config.pod_argv(batch, archives[-1]), capture_output=True, check=True)
    merged = merge_results(archives, base / "results", program="blastn")
    return base / "results", len(batches), merged.hit_count


def time_formats(base: Path, records: int, batch_len: int) -> list[str]:
    results, batches, hits = _search_in_batches(base, records, batch_len)
    rows = [f"blastn, {records} transcripts vs the 473, {batches} batches, {hits:,} hits", "",
            "| format | first request s | cached ms | size MB |", "|---|---:|---:|---:|"]  # fmt: skip
    for name in FORMATS:
        first, path = _timed(lambda name=name: formatted(results, name, program="blastn"))
        again, _ = _timed(lambda name=name: formatted(results, name, program="blastn"))
        rows.append(f"| {name} | {first:.2f} | {again * 1000:.2f} | {Path(str(path)).stat().st_size / 1e6:.2f} |")
    return rows


def time_alignments(base: Path, targets: int, pages: int) -> list[str]:
    prot = DATA / "Sinvicta2-2-3.prot.subset.fasta"
    SeqIO.write(list(SeqIO.parse(prot, "fasta"))[:1], base / "q.fa", "fasta")
    results = base / "aln"
    results.mkdir()
    subprocess.run(["makeblastdb", "-in", str(prot), "-dbtype", "prot", "-out", str(base / "prot")],
                   capture_output=True, check=True)  # fmt: skip
    subprocess.run(["blastp", "-query", str(base / "q.fa"), "-db", str(base / "prot"), "-evalue", "100000",
                    "-max_target_seqs", str(targets), "-outfmt", "11", "-out", str(results / "results.asn")],
                   capture_output=True, check=True)  # fmt: skip
    render, index = _timed(lambda: alignment_index(formatted(results, "xml", program="blastp")))
    query = index.with_hits[0]  # type: ignore[attr-defined]

    def open_page(number: int) -> int:
        shown = query_alignments(formatted(results, "xml"), query, number * 10, 10)
        return len([format_hsp(hsp, shown.program) for hit in shown.hits for hsp in hit.hsps])

    opens = [_timed(lambda n=n: open_page(n % max(1, targets // 10)))[0] * 1000 for n in range(pages)]
    total = query_alignments(formatted(results, "xml"), query, 0, 1).total
    size = formatted(results, "xml").stat().st_size / 1e6
    return [f"one protein vs the 1,189 proteins, {total} hits; XML {size:.1f} MB",
            "", "| step | time |", "|---|---:|",
            f"| render the XML and index it (finalize, or the first opening above 20,000 hits) | {render:.2f} s |",
            f"| open a page of 10 hits, median of {pages} | {statistics.median(opens):.0f} ms |",
            f"| open a page of 10 hits, max | {max(opens):.0f} ms |"]  # fmt: skip


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small inputs (CI)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="blastflow-bench-views-") as tmp:
        base = Path(tmp)
        lines = time_formats(base, 20 if args.smoke else 473, 6_000 if args.smoke else 100_000)
        lines += ["", *time_alignments(base, 20 if args.smoke else 500, 3 if args.smoke else 20)]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
