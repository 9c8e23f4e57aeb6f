"""Build the course website into artifacts/site/: every lesson executed and stamped, one click from running it.

    python tools/site.py                                      # make site
    python tools/site.py --jupyterhub-url https://hub.example.org
    python tools/site.py --fresh                              # execute every lesson again

Lessons come executed from artifacts/executed/ when that run is newer than the lesson (the
notebook tests save each run there); the others are executed here, in quick mode, and each
"try it" control is pressed once so that the page can show one result. Sphinx with myst-nb and
sphinx-book-theme turns them, the labs' student versions and docs/ into HTML, offline
(docs/publishing.md says why this builder, and how to publish the site).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from site_pages import PRESS_TAG, Launch, add_presses, lab_page, lesson_page, rewrite_links

from servelab.host.environment import environment_stamp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.notebooks.runner import EXECUTED, errors  # noqa: E402  (where the notebook tests save their runs)

SOURCE = ROOT / "artifacts" / "site-source"  # the pages as Sphinx reads them, rebuilt every time
OUT = ROOT / "artifacts" / "site"
THEME = Path(__file__).resolve().parent / "site_theme"
CELL_TIMEOUT_S = 300
NEVER_PUBLISHED = ("solutions",)  # nbgrader sources: solutions and hidden tests


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def labs() -> list[Path]:
    return sorted((ROOT / "labs").glob("*/*.ipynb"))


def docs() -> list[Path]:
    """docs/*.md, README first; the claims table (docs/claims.md) when there is one goes in its own part."""
    found = sorted((ROOT / "docs").glob("*.md"), key=lambda p: (p.name != "README.md", p.name))
    return [p for p in found if p.name != "claims.md"]


def binder_link() -> str:
    found = re.search(r"^\[binder\]:\s*(\S+)", (ROOT / "README.md").read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit("README.md has no [binder] link: the site takes the repository from it")
    return found.group(1)


# ---------------------------------------------------------------------------------------------
# Executed lessons.


def executed(path: Path, fresh: bool) -> tuple[nbformat.NotebookNode, str]:
    """The executed lesson and where it came from ("reused" or "executed here in N s")."""
    saved = EXECUTED / path.name
    if not fresh and saved.exists() and saved.stat().st_mtime > path.stat().st_mtime:
        nb = nbformat.read(saved, as_version=4)
        if "servelab" in nb.metadata:
            return nb, "reused from artifacts/executed/"
    started = time.monotonic()
    nb = execute(path)
    if not lesson_errors(nb):  # the next build reuses it, as it reuses the notebook tests' runs
        saved.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, saved)
    return nb, f"executed here in {time.monotonic() - started:.0f} s"


def execute(path: Path) -> nbformat.NotebookNode:
    """Run the lesson in a fresh kernel in quick mode, claims not strict (they show ✓ or ✗)."""
    nb = add_presses(nbformat.read(path, as_version=4))
    stamp = environment_stamp().as_dict()  # the kernel inherits this process's CPUs and limits
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:  # the page shows the error; main() reports it
        print(f"  {path.stem}: {str(exc).strip().splitlines()[-1][:200]}", file=sys.stderr)
    nb.metadata["servelab"] = {"stamp": stamp, "quick": True, "strict": False}
    return nb


def lesson_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Errors in the lesson's own cells (a failed press only costs its page the recorded example)."""
    cells = [c for c in nb.cells if PRESS_TAG not in c.metadata.get("tags", [])]
    return errors(nbformat.v4.new_notebook(cells=cells))


# ---------------------------------------------------------------------------------------------
# The source tree Sphinx reads: the repository's layout (notebooks/, labs/, docs/), so that
# relative links between them resolve as they do on GitHub and in JupyterLab.


def linker(source: Path, published: set[str], launch: Launch) -> Callable[[str], str]:
    """Rewrite a markdown link of ``source``: kept when the site has the target, else to the repository."""
    here = source.parent.relative_to(ROOT)

    def rewrite(target: str) -> str | None:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return target
        path, _, fragment = target.partition("#")
        resolved = os.path.normpath(here / path.replace("%20", " "))
        if resolved.startswith(".."):
            return None
        if resolved in published or resolved.split("/")[0] in NEVER_PUBLISHED:
            return target if resolved in published else None
        if (ROOT / resolved).exists():
            return launch.source(resolved) + (f"#{fragment}" if fragment else "")
        print(f"  warning: {source.relative_to(ROOT)} links to {target}, which does not exist", file=sys.stderr)
        return None

    return lambda text: rewrite_links(text, rewrite)


def stage(launch: Launch, fresh: bool) -> list[str]:
    """Write every page into SOURCE; returns the lessons that show an error."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    claims = ROOT / "docs" / "claims.md"
    pages = [*lessons(), *labs(), *docs(), *([claims] if claims.exists() else [])]
    published = {str(p.relative_to(ROOT)) for p in pages}
    failed = []
    for path in lessons():
        nb, how = executed(path, fresh)
        if lesson_errors(nb):
            failed.append(f"{path.stem}: {'; '.join(lesson_errors(nb))[:300]}")
        print(f"{path.stem}: {how}", flush=True)
        rel = str(path.relative_to(ROOT))
        _write_notebook(lesson_page(nb, rel, launch, linker(path, published, launch)), SOURCE / rel)
    for path in labs():
        rel = str(path.relative_to(ROOT))
        nb = nbformat.read(path, as_version=4)
        _write_notebook(lab_page(nb, rel, launch, linker(path, published, launch)), SOURCE / rel)
    for path in [*docs(), *([claims] if claims.exists() else [])]:
        target = SOURCE / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(linker(path, published, launch)(path.read_text()))
    (SOURCE / "index.md").write_text(index_page(launch, claims.exists()))
    shutil.copy(THEME / "conf.py", SOURCE / "conf.py")
    shutil.copytree(THEME / "_static", SOURCE / "_static")
    settings = {
        "repository_url": launch.repository,
        "branch": launch.branch,
        "binderhub_url": launch.binderhub,
        "jupyterhub_url": launch.jupyterhub_url,
    }
    (SOURCE / "settings.json").write_text(json.dumps(settings, indent=1))
    return failed


def _write_notebook(nb: nbformat.NotebookNode, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def index_page(launch: Launch, with_claims: bool) -> str:
    readme = (ROOT / "README.md").read_text()
    intro = readme.split("\n\n")[1].strip()  # the paragraph under the title
    first = str(lessons()[0].relative_to(ROOT)) if lessons() else "notebooks"
    hub = f"- **On your JupyterHub**: [open the course]({launch.jupyterhub(first)})\n" if launch.jupyterhub_url else ""
    lesson_toc = "\n".join(str(p.relative_to(ROOT).with_suffix("")) for p in lessons())
    lab_toc = "\n".join(str(p.relative_to(ROOT).with_suffix("")) for p in labs())
    doc_toc = "\n".join(str(p.relative_to(ROOT).with_suffix("")) for p in docs())
    claims = "\n```{toctree}\n:caption: Claims\n:maxdepth: 1\n\ndocs/claims\n```\n" if with_claims else ""
    return f"""# servelab: serving Python web apps in production

{intro}

Every lesson page here is one run of the lesson, executed when the site was built: its plots, its
claims (✓ held or ✗ did not hold, as measured), and a banner saying on what machine it ran. To run
the experiments yourself:

- **In the browser, nothing to install**: [launch on Binder]({launch.binder(first)}) (1 CPU, about 2 GB)
{hub}- **On your machine**: clone [the repository]({launch.repository}) and run `make lab`

```{{toctree}}
:caption: Lessons
:maxdepth: 1

{lesson_toc}
```

```{{toctree}}
:caption: Labs (student versions)
:maxdepth: 1

{lab_toc}
```

```{{toctree}}
:caption: For instructors
:maxdepth: 1

{doc_toc}
```
{claims}"""


def build_html(out: Path) -> None:
    doctrees = out.parent / "site-doctrees"
    for old in (out, doctrees):
        shutil.rmtree(old, ignore_errors=True)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(doctrees), str(SOURCE), str(out)]
    subprocess.run(command, check=True)
    shutil.rmtree(doctrees, ignore_errors=True)
    (out / ".nojekyll").touch()  # GitHub Pages from a branch: publish _static/ and _images/ as they are


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jupyterhub-url", default=os.environ.get("JUPYTERHUB_URL", ""), help="e.g. https://hub.example.org"
    )
    parser.add_argument("--fresh", action="store_true", help="execute every lesson, even those in artifacts/executed/")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.update({"SERVELAB_QUICK": "1", "MPLBACKEND": "Agg"})
    os.environ.pop("SERVELAB_STRICT", None)
    started = time.monotonic()
    failed = stage(Launch(binder_link(), args.jupyterhub_url), args.fresh)
    staged = time.monotonic()
    build_html(args.out)
    where = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(
        f"site in {where}/ in {time.monotonic() - started:.0f} s (lessons {staged - started:.0f} s, "
        f"HTML {time.monotonic() - staged:.0f} s): open {where}/index.html"
    )
    for problem in failed:
        print(f"error in {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
