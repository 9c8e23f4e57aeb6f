"""``servelab size``: how many workers, of which class, for your own app, measured on this machine.

>>> report = size(app="main:app", paths=["/", "/report"], app_dir="~/myapp", target_cpus=8)  # doctest: +SKIP
>>> print(report.recommendation.headline())                                                 # doctest: +SKIP

Modules: :mod:`~servelab.size.spec` (what to size), :mod:`~servelab.size.probe` (interface, start-up,
cost of each path), :mod:`~servelab.size.run` (the sweep within the budget),
:mod:`~servelab.size.recommend` (the reading), :mod:`~servelab.size.report` (HTML, JSON, CSV).
"""

from servelab.size.recommend import Recommendation
from servelab.size.report import SizeReport
from servelab.size.run import size
from servelab.size.spec import SizeSpec, parse_size

__all__ = ["Recommendation", "SizeReport", "SizeSpec", "parse_size", "size"]
