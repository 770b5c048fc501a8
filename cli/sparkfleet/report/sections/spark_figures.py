"""A Spark's bench beside figures other people published for DGX Sparks, each with its source, and how alike
the setups are."""

from __future__ import annotations

import re

from sparkfleet.report import published_figures as published
from sparkfleet.report.inputs import Inputs
from sparkfleet.report.markdown import cell, code, delta_pct, fmt_value, table

INTRO = ("Figures other people published for DGX Sparks, each with its source. They were measured on other "
         "setups (model, precision, number of Sparks, vLLM build, prompt and output lengths, load), so they "
         "are a point of reference, not a pass mark. This run is shown by its text scenario at concurrency 1, "
         "one request at a time. A result in the same range as a similar model is plausible; one far below "
         "it is worth a look at the GPU clocks, the free memory and the vLLM flags.")


def spark_figures(inputs: Inputs, hosts: list[str]) -> str:
    out = ["### Against published DGX Spark figures", "", INTRO]
    marks = set()
    ours, notes = [], []
    for host in hosts:
        model = inputs.model(host)
        figure = published.closest(model)
        single = next((s for s in inputs.benches[host].current.scenarios()
                       if s.traffic == "text" and s.concurrency == 1), None)
        if single is None:
            continue
        ours.append([f"**{host}**, this run ({code(single.name)})", code(model or "?"), "1",
                     fmt_value(single.output_throughput), fmt_value(single.ttft_ms.median),
                     fmt_value(single.tpot_ms.median), "this report"])
        if figure is None:
            continue
        marks.add(figure)
        delta = delta_pct(single.output_throughput, figure.output_tok_s)
        if delta is None:
            continue
        notes.append(f"{host}: {fmt_value(single.output_throughput)} output tok/s against "
                     f"{figure.output_tok_s:g} tok/s published for {figure.label} ({figure.setup}; "
                     f"{figure.source}): {delta:+.0f} %. {_likeness(str(model).lower(), figure)}")
    rows = []
    for figure in published.FIGURES:
        closest = " (closest to this run)" if figure in marks else ""
        rows.append([cell(figure.setup) + closest, cell(figure.label), str(figure.sparks),
                     f"{figure.output_tok_s:g}", f"{figure.ttft_ms:g}" if figure.ttft_ms else "—",
                     f"{figure.tpot_ms:g}" if figure.tpot_ms else "—", cell(figure.source)])
    out += ["", table(["Setup", "Model", "Sparks", "Output tok/s", "TTFT ms", "TPOT ms", "Source"], ours + rows,
                      "llrrrrl")]
    if not ours:
        out += ["", "This run has no text scenario at concurrency 1 to set beside these figures."]
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out)


def _likeness(name: str, figure: published.Figure) -> str:
    """How far the published figure is a like-for-like reference for this model."""
    same = (figure.family in name and published.model_size_b(name) == figure.params_b
            and figure.precision in name)
    if same and figure.sparks == 1:
        return "The same model and precision on one Spark: a like-for-like reference."
    if same:
        return (f"The same model and precision, but on {figure.sparks} Sparks: the network between them "
                "costs time per token, so one Spark need not be slower.")
    active = re.search(r"-a(\d+(?:\.\d+)?)b", name)
    return "Not the same model, so read the difference as an order of magnitude only" + (
        f": this one is a mixture of experts that reads only about {active.group(1)}B parameters per token, so it "
        "is expected to be faster than a dense model of its size." if active else ".")
