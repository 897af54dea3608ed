"""Serving the dashboard: the page at ``/``, its files under ``/static``, ``/api/v1/me`` and
``/api/v1/config``.

The page and its files need no key: they hold no data. Every data call the page makes goes
to ``/api/v1`` with the key the operator typed in, so the server decides what it may see
(a factory-scoped key gets its factory only). ``GET /api/v1/me`` tells the page the key's
role and scope, so that it offers only the actions the key may take; the server still
checks each one. ``GET /api/v1/config`` gives the page what it shows the same way on every
screen: the complex's time zone (``CC_TIME_ZONE``) and the service's version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from controlcenter import __version__
from controlcenter.api import ERRORS, Principal, State, authenticate_request

__all__ = ["DASHBOARD_DIR", "DashboardFiles", "DisplayConfig", "Me", "mount_dashboard", "router"]

#: The folder of the dashboard's static files (inside the package, so wheels carry it).
DASHBOARD_DIR: Final = Path(__file__).resolve().parent
_SERVED_SUFFIXES: Final = frozenset(
    {".html", ".js", ".css", ".txt", ".svg", ".png", ".ico", ".woff2"}
)
_SERVED_NAMES: Final = frozenset({"LICENSE"})
#: Scripts, styles and connections from this origin only; no inline script, no framing.
_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_HEADERS: Final = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/api/v1", tags=["keys"], responses=ERRORS)


class Me(BaseModel):
    """The calling key: its id, name, role and optional factory scope (never its secret)."""

    key_id: str = Field(examples=["3f9a0c2b7d1e"])
    name: str = Field(examples=["control room wall"])
    role: str = Field(examples=["operator"])
    site: str | None = Field(None, examples=["namdong"])
    factory: str | None = Field(None, examples=["f001"])


@router.get("/me", response_model=Me, summary="The calling key's role and scope")
async def me(who: Annotated[Principal, Depends(authenticate_request)]) -> Me:
    """Who the key is: role (``viewer`` < ``operator`` < ``maintenance`` < ``admin``) and,
    for a tenant's key, the one factory it sees. Any valid key may ask."""
    return Me(
        key_id=who.key_id, name=who.name, role=who.role.label, site=who.site, factory=who.factory
    )


class DisplayConfig(BaseModel):
    """What every screen shows the same way, whatever the browser's own settings."""

    time_zone: str = Field(
        examples=["Asia/Seoul"], description="the complex's time zone (IANA name, CC_TIME_ZONE)"
    )
    version: str = Field(examples=["0.1.0"])


@router.get("/config", response_model=DisplayConfig, summary="Display settings for dashboards")
async def display_config(
    state: State, _who: Annotated[Principal, Depends(authenticate_request)]
) -> DisplayConfig:
    """The complex's time zone (dates and times are shown in it) and the service's version.
    Any valid key may ask."""
    return DisplayConfig(time_zone=state.settings.time_zone, version=__version__)


class DashboardFiles(StaticFiles):
    """Static files of the dashboard folder, limited to web assets and licence texts (the
    folder also holds this Python module, which is not served).

    >>> files = DashboardFiles(directory=DASHBOARD_DIR)
    >>> files.servable("app.js"), files.servable("vendor/uplot/LICENSE"), files.servable("x.py")
    (True, True, False)
    """

    @staticmethod
    def servable(path: str) -> bool:
        """Whether ``path`` (relative to the folder) is one of the dashboard's assets."""
        p = Path(path)
        if "__pycache__" in p.parts:
            return False
        return p.suffix in _SERVED_SUFFIXES or p.name in _SERVED_NAMES

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at ``path``; 404 for anything that is not a dashboard asset."""
        if not self.servable(path):
            raise StarletteHTTPException(404)
        response = await super().get_response(path, scope)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


async def _index() -> Response:
    return FileResponse(DASHBOARD_DIR / "index.html", headers=_HEADERS)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: ``/`` (the page), ``/static/...`` (its files),
    ``GET /api/v1/me`` and ``GET /api/v1/config`` (authenticated like every ``/api/v1`` route).

    >>> app = FastAPI()
    >>> mount_dashboard(app)
    >>> app.url_path_for("me"), app.url_path_for("display_config")
    ('/api/v1/me', '/api/v1/config')
    >>> app.url_path_for("dashboard", path="app.js")
    '/static/app.js'
    """
    app.include_router(router)
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    app.mount("/static", DashboardFiles(directory=DASHBOARD_DIR), name="dashboard")
