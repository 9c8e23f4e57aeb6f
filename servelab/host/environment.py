"""The environment stamp every result carries: where and with what it was measured."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
from dataclasses import asdict, dataclass, field
from importlib import metadata

from servelab.host.cpus import cpu_info, memory_info

__all__ = ["PACKAGES", "EnvironmentStamp", "environment_stamp", "hosting", "package_versions"]

PACKAGES = (
    "servelab",
    "uvicorn",
    "gunicorn",
    "uvicorn-worker",
    "granian",
    "hypercorn",
    "fastapi",
    "starlette",
    "flask",
    "werkzeug",
    "a2wsgi",
    "uvloop",
    "httptools",
    "h11",
    "psutil",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, None when it is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hosting() -> str:
    """Where this runs: "binder", "jupyterhub" or "local"."""
    if (
        os.environ.get("BINDER_SERVICE_HOST")
        or os.environ.get("BINDER_LAUNCH_HOST")
        or os.environ.get("BINDER_REPO_URL")
    ):
        return "binder"
    if os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or os.environ.get("JUPYTERHUB_USER"):
        return "jupyterhub"
    return "local"


@dataclass(frozen=True)
class EnvironmentStamp:
    """A snapshot of the machine and software, attached to every measurement."""

    taken_at: str
    hostname: str
    platform: str
    cpu_model: str
    cpus_visible: int
    cpus_affinity: tuple[int, ...]
    cpus_quota: float | None
    cpus_effective: int
    memory_total_bytes: int
    memory_limit_bytes: int
    python: str
    hosting: str
    versions: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["cpus_affinity"] = list(self.cpus_affinity)
        return d

    def short(self) -> str:
        """One line for a plot's footer."""
        quota = f", quota {self.cpus_quota:g}" if self.cpus_quota is not None else ""
        mem = self.memory_limit_bytes / 2**30
        v = self.versions
        servers = ", ".join(f"{k} {v[k]}" for k in ("uvicorn", "gunicorn", "fastapi", "flask") if v.get(k))
        return (
            f"{self.cpus_effective} effective CPUs ({self.cpus_visible} visible{quota}) · "
            f"{self.cpu_model} · {mem:.1f} GiB · Python {self.python} · {servers} · {self.taken_at[:16]}"
        )


def environment_stamp() -> EnvironmentStamp:
    """Take the stamp now.

    >>> environment_stamp().cpus_effective >= 1
    True
    """
    cpus = cpu_info()
    memory = memory_info()
    return EnvironmentStamp(
        taken_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        hostname=platform.node(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        cpu_model=cpu_model(),
        cpus_visible=cpus.visible,
        cpus_affinity=cpus.affinity,
        cpus_quota=cpus.quota,
        cpus_effective=cpus.effective,
        memory_total_bytes=memory.total_bytes,
        memory_limit_bytes=memory.limit_bytes,
        python=platform.python_version(),
        hosting=hosting(),
        versions=package_versions(),
    )


def tool_available(name: str) -> str | None:
    """Path of an external program (nginx, wrk), or None."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None
    )
