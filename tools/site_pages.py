"""Turn an executed lesson into a page of the course website (tools/site.py builds the site).

A static page has no kernel, so three things change on the way:

- the environment stamp of the run becomes a banner under the title, with launch buttons;
- a "try it" control becomes a note on how to run it live, with the controls' starting values and,
  where the build pressed it once, the result of that press; a progress bar becomes its final state;
- a link to a file of the repository that the site does not publish points to the repository.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PRESS_TAG = "servelab-site-press"
# `controls = try_it(...)`: the name the press cell uses to find the control.
TRY_IT = re.compile(r"^(\w+)\s*=\s*try_it\(", re.MULTILINE)
HELD, NOT_HELD = "✓ holds", "✗ did not hold here"
WHERE = {"local": "on a machine of its own", "binder": "on Binder", "jupyterhub": "on a JupyterHub"}


@dataclass(frozen=True)
class Launch:
    """Where a page's notebook runs live: Binder (from README's [binder] link) and a JupyterHub."""

    binder_url: str  # https://mybinder.org/v2/gh/OWNER/REPO/BRANCH?urlpath=...
    jupyterhub_url: str = ""

    @property
    def binderhub(self) -> str:
        return self.binder_url.split("/v2/", 1)[0]

    @property
    def slug(self) -> str:
        return "/".join(self.binder_url.split("/v2/gh/", 1)[1].split("?")[0].split("/")[:2])

    @property
    def branch(self) -> str:
        return self.binder_url.split("/v2/gh/", 1)[1].split("?")[0].split("/")[2]

    @property
    def repository(self) -> str:
        return f"https://github.com/{self.slug}"

    def binder(self, path: str) -> str:
        return f"{self.binder_url.split('?')[0]}?urlpath={quote('lab/tree/' + path, safe='/')}"

    def jupyterhub(self, path: str) -> str:
        """nbgitpuller: the hub clones (or updates) the repository, then opens ``path`` in JupyterLab."""
        if not self.jupyterhub_url:
            return ""
        name = self.slug.split("/")[1]
        query = urlencode({"repo": self.repository, "branch": self.branch, "urlpath": f"lab/tree/{name}/{path}"})
        return f"{self.jupyterhub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"

    def source(self, path: str) -> str:
        kind = "tree" if not PurePosixPath(path).suffix else "blob"
        return f"{self.repository}/{kind}/{self.branch}/{path}"

    def buttons(self, path: str) -> str:
        links = [(self.binder(path), "Run on Binder"), (self.jupyterhub(path), "Run on JupyterHub")]
        return " ".join(
            f'<a class="servelab-button" href="{html.escape(url)}">▶ {label}</a>' for url, label in links if url
        )


# ---------------------------------------------------------------------------------------------
# The build presses each "try it" control once (only when it executes the lesson itself).


def add_presses(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A cell after each ``name = try_it(...)`` cell that calls its function with the starting values."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        found = TRY_IT.search(cell.source) if cell.cell_type == "code" else None
        if found:
            name = found.group(1)
            press = new_code_cell(
                f"_press = {{w._kwarg: w.get_interact_value() for w in {name}.kwargs_widgets}}\n"
                f"print('one press with ' + ', '.join(f'{{k}}={{v!r}}' for k, v in _press.items()))\n"
                f"{name}.f(**_press)"
            )
            press.metadata["tags"] = [PRESS_TAG, "raises-exception"]  # a failed press only loses the example
            cells.append(press)
    nb.cells = cells
    return nb


# ---------------------------------------------------------------------------------------------
# Executed lesson → page.


def lesson_page(nb: nbformat.NotebookNode, path: str, launch: Launch, link: Callable[[str], str]) -> Any:
    """The page for an executed lesson (``path``: the lesson's path in the repository)."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    cells: list[Any] = []
    for cell in nb.cells:
        if PRESS_TAG in cell.metadata.get("tags", []):
            pressed = cell.outputs and not any(o.get("output_type") == "error" for o in cell.outputs)
            if cells and pressed:
                recorded = [out for o in cell.outputs for out in _static(o, state, in_try_it=False)]
                cells[-1].outputs += [_note("Recorded when this page was built:", "servelab-press"), *recorded]
            continue
        if cell.cell_type == "code":
            cell.outputs = [out for o in cell.outputs for out in _static(o, state, "try_it(" in cell.source)]
        elif cell.cell_type == "markdown":
            cell.source = diagrams(link(cell.source))
        cells.append(cell)
    claims = _count_claims(cells)
    _under_title(cells, _lesson_banner(nb.metadata.get("servelab", {}), claims, launch.buttons(path)))
    nb.cells = cells
    nb.metadata.pop("widgets", None)  # no widget JavaScript on a page without a kernel
    return nb


def lab_page(nb: nbformat.NotebookNode, path: str, launch: Launch, link: Callable[[str], str]) -> Any:
    """The page for a lab's student version: unexecuted, with launch buttons."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = link(cell.source)
    banner = _html_block(
        "servelab-stamp",
        f'<div class="servelab-launch">{launch.buttons(path)}</div>',
        "<p>The student version of a graded lab, not executed: run it live, fill in the cells marked "
        "<code>YOUR CODE HERE</code> and run its self-check tests. Your instructor grades the saved notebook.</p>",
    )
    _under_title(nb.cells, banner)
    return nb


def _under_title(cells: list[Any], block: str) -> None:
    """Put ``block`` right under the page's title (the first line of the first cell, ``# ...``)."""
    if cells and cells[0].cell_type == "markdown" and cells[0].source.startswith("# "):
        title, _, rest = cells[0].source.partition("\n")
        cells[0].source = f"{title}\n\n{block}\n\n{rest.lstrip()}"
    else:
        cells.insert(0, new_markdown_cell(block))


def _html_block(css_class: str, *parts: str) -> str:
    # One HTML block for MyST: no blank line inside, or the block would end there.
    return f'<div class="{css_class}">' + "".join(p.replace("\n\n", "\n") for p in parts) + "</div>"


def _lesson_banner(meta: dict[str, Any], claims: tuple[int, int], buttons: str) -> str:
    stamp = meta.get("stamp")
    if not stamp:
        return _html_block("servelab-stamp", f'<div class="servelab-launch">{buttons}</div>')
    when = stamp["taken_at"][:16].replace("T", " ") + " UTC"
    mode = "quick mode (shorter runs, the same real servers and load)" if meta.get("quick") else "full mode"
    held, not_held = claims
    gib = 2**30
    memory = f"{stamp['memory_limit_bytes'] / gib:.1f} GiB usable"
    if stamp["memory_limit_bytes"] < stamp["memory_total_bytes"]:
        memory += f" (a limit; the machine has {stamp['memory_total_bytes'] / gib:.1f} GiB)"
    versions = " · ".join(f"{name} {version}" for name, version in stamp["versions"].items() if version)
    rows = [
        ("Executed", f"{when}, {mode}, {WHERE.get(stamp['hosting'], stamp['hosting'])}"),
        ("Claims", f"{held} ✓ held, {not_held} ✗ did not hold, as measured in this run"),
        (
            "CPU",
            f"{stamp['cpu_model']}: {stamp['cpus_effective']} effective of {stamp['cpus_visible']} "
            f"visible ({_limited_by(stamp)})",
        ),
        ("Memory", memory),
        ("Software", f"{stamp['platform']} · Python {stamp['python']} · {versions}"),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return _html_block(
        "servelab-stamp",
        f'<div class="servelab-launch">{buttons}</div>',
        "<p>This page shows one run of the lesson on the machine that built the site. "
        "Your numbers will differ: run it live to measure your own.</p>",
        f"<table>{table}</table>",
    )


def _limited_by(stamp: dict[str, Any]) -> str:
    limits = []
    if len(stamp["cpus_affinity"]) < stamp["cpus_visible"]:
        limits.append(f"CPU affinity {_ranges(stamp['cpus_affinity'])}")
    if stamp.get("cpus_quota") is not None:
        limits.append(f"a cgroup quota of {stamp['cpus_quota']:g} CPUs")
    return "limited by " + " and ".join(limits) if limits else "no affinity mask, no CPU quota"


def _ranges(cpus: list[int]) -> str:
    spans: list[list[int]] = []
    for cpu in sorted(cpus):
        if spans and cpu == spans[-1][-1] + 1:
            spans[-1].append(cpu)
        else:
            spans.append([cpu])
    return ",".join(f"{s[0]}-{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans)


def _count_claims(cells: list[Any]) -> tuple[int, int]:
    held = not_held = 0
    for text in _output_texts(cells):
        held += text.count(HELD)
        not_held += text.count(NOT_HELD)
    return held, not_held


def _output_texts(cells: list[Any]) -> Iterator[str]:
    for cell in cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            yield "".join(text) if isinstance(text, list) else text


# ---------------------------------------------------------------------------------------------
# Widgets without a kernel.


def _static(output: Any, state: dict[str, Any], in_try_it: bool) -> list[Any]:
    """``output`` as a page shows it: a widget becomes its final state (a progress bar) or a note."""
    view = output.get("data", {}).get(WIDGET_VIEW)
    if view is None:
        return [output]
    model = state.get(view.get("model_id"), {})
    children = [state.get(_id(c), {}) for c in model.get("state", {}).get("children", [])]
    progress = _progress(children)
    if progress is not None:
        return [progress]
    if not in_try_it:
        return [_note("An interactive control: it needs a running kernel. Run the lesson live to use it.")]
    button = next((c["state"].get("description") for c in children if c.get("model_name") == "ButtonModel"), None)
    controls = ", ".join(filter(None, map(_describe, children)))
    return [
        _note(
            "<b>Try it live.</b> Here the lesson has a control that runs an experiment on your machine. "
            "It needs a running Python kernel, which this page does not have: open the lesson with a button at "
            "the top of the page (or <code>make lab</code> on your machine), run the cells from the top, predict "
            f"the result, then change the values and press <i>{html.escape(button or 'Run')}</i>."
            + (f"<br>Controls and their starting values: {html.escape(controls)}." if controls else ""),
            "servelab-try-it",
        )
    ]


def _id(reference: str) -> str:
    return reference.removeprefix("IPY_MODEL_")


def _describe(model: dict[str, Any]) -> str:
    s = model.get("state", {})
    name = model.get("model_name", "")
    if name in ("ButtonModel", "OutputModel") or not s.get("description"):
        return ""
    if "_options_labels" in s:
        index = s.get("index")
        value = s["_options_labels"][index] if isinstance(index, int) else ""
        return f"{s['description']} = {value} (one of {len(s['_options_labels'])})"
    if "min" in s and "max" in s:
        return f"{s['description']} = {s.get('value')} (from {s['min']} to {s['max']})"
    return f"{s['description']} = {s.get('value')}"


def _progress(children: list[dict[str, Any]]) -> Any:
    """A tqdm bar (an HBox of HTML, progress, HTML) as its final state; None for another widget."""
    names = [c.get("model_name") for c in children]
    if len(children) != 3 or names[1] not in ("FloatProgressModel", "IntProgressModel"):
        return None
    left, right = (_plain(c.get("state", {}).get("value", "")) for c in (children[0], children[2]))
    maximum, value = (children[1].get("state", {}).get(k, 0) for k in ("max", "value"))
    return _note(
        f'{html.escape(str(left))} <progress max="{maximum}" value="{value}"></progress> {html.escape(str(right))}',
        "servelab-progress",
        f"{left} {right}",
    )


def _plain(markup: object) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(markup))).strip()


def _note(markup: str, css_class: str = "servelab-note", text: str | None = None) -> Any:
    plain = text if text is not None else _plain(markup)
    data = {"text/html": f'<div class="{css_class}">{markup}</div>', "text/plain": plain}
    return new_output("display_data", data=data)


# ---------------------------------------------------------------------------------------------
# Links.

LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\s+\"[^\"]*\")?\)|^(\[[^\]]+\]:\s*)(\S+)", re.MULTILINE)


def rewrite_links(text: str, rewrite: Callable[[str], str | None]) -> str:
    """Apply ``rewrite`` to every markdown link target (None: keep the link's text only)."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            opening, target, title = match.group(1), match.group(2), match.group(3) or ""
            new = rewrite(target)
            if new is None:
                return opening[:-2].lstrip("!").removeprefix("[")
            return f"{opening}{new}{title})"
        new = rewrite(match.group(5))
        return f"{match.group(4)}{new}" if new is not None else ""

    return LINK.sub(one, text)


# ---------------------------------------------------------------------------------------------
# Diagrams: JupyterLab draws ```mermaid blocks itself; on the site mermaid.js draws them in the
# reader's browser (offline it shows the diagram's source, which reads as text).

MERMAID = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
MERMAID_JS = "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs"


def diagrams(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        return (
            f'<pre class="mermaid">\n{html.escape(match.group(1))}</pre>\n\n'
            f'<script type="module">import mermaid from "{MERMAID_JS}"; mermaid.initialize({{startOnLoad: true}});'
            "</script>"
        )

    return MERMAID.sub(one, text)
