"""What JupyterLab shows: the learner's view hides nbgrader's instructor tools, the instructor's shows them.

nbgrader installs its whole JupyterLab extension: the *Create Assignment* panel, the
*Formgrader*, the course and assignment lists and an *Nbgrader* menu. A learner uses none of
them; only the *Validate* button helps them (it runs a lab's self-checks before they hand it in).
``servelab jupyter-view learner`` (run by ``make lab``, ``make test`` and Binder's ``postBuild``)
turns the rest off for the environment; ``servelab jupyter-view instructor`` turns them back on.

The switch is two small files in the environment's Jupyter config (``PREFIX/etc/jupyter``):
``labconfig/page_config.json`` (JupyterLab's disabled plugins) and
``jupyter_server_config.d/zz-servelab-view.json`` (server extensions; read after nbgrader's own
file, so it wins). Leaving the formgrader off also saves JupyterLab about 10 s at start-up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

__all__ = ["INSTRUCTOR_PLUGINS", "INSTRUCTOR_SERVER_EXTENSIONS", "View", "set_view"]

View = Literal["learner", "instructor"]

INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
)
_SERVER_FILE = "zz-servelab-view.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}): fix or delete it, then run this again") from None
    return data if isinstance(data, dict) else {}


def set_view(view: View, prefix: str | Path | None = None) -> list[Path]:
    """Show JupyterLab as a ``learner`` or an ``instructor`` sees it, for the environment at ``prefix``.

    ``prefix`` defaults to this Python's environment (``sys.prefix``). Returns the files written
    or removed. Restart JupyterLab for it to take effect.
    """
    if view not in ("learner", "instructor"):
        raise ValueError(f"view must be 'learner' or 'instructor', not {view!r}")
    config = Path(prefix or sys.prefix) / "etc" / "jupyter"
    page_config = config / "labconfig" / "page_config.json"
    data = _read(page_config)
    disabled = {k: v for k, v in data.get("disabledExtensions", {}).items() if k not in INSTRUCTOR_PLUGINS}
    if view == "learner":
        disabled.update(dict.fromkeys(INSTRUCTOR_PLUGINS, True))
    data["disabledExtensions"] = disabled
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps(data, indent=2) + "\n")

    server_file = config / "jupyter_server_config.d" / _SERVER_FILE
    if view == "learner":
        server_file.parent.mkdir(parents=True, exist_ok=True)
        extensions = dict.fromkeys(INSTRUCTOR_SERVER_EXTENSIONS, False)
        server_file.write_text(json.dumps({"ServerApp": {"jpserver_extensions": extensions}}, indent=2) + "\n")
    else:
        server_file.unlink(missing_ok=True)
    return [page_config, server_file]
