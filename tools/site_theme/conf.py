"""Sphinx configuration of the course website; tools/site.py copies it next to the pages it writes.

The build is offline: nothing here fetches a theme or a template (sphinx-book-theme and myst-nb
are Python packages in requirements.lock), and the notebooks come already executed.
"""

import json
from pathlib import Path

settings = json.loads((Path(__file__).parent / "settings.json").read_text())

project = "servelab"
html_title = "servelab"
author = "the servelab authors"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "settings.json"]
nb_execution_mode = "off"  # tools/site.py executed the lessons (or reused the notebook tests' runs)
nb_merge_streams = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["servelab.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True  # the download button offers each page's notebook
html_theme_options = {
    "repository_url": settings["repository_url"],
    "repository_branch": settings["branch"],
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "launch_buttons": {
        "binderhub_url": settings["binderhub_url"],
        "jupyterhub_url": settings["jupyterhub_url"],
        "notebook_interface": "jupyterlab",
    },
}
