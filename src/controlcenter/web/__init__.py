"""The control room's dashboard: a single page served by the API at ``/``.

Static files (``index.html``, ``app.js`` and its modules, ``style.css``, ``vendor/``) with
no build step; :func:`mount_dashboard` adds them to the API app.
"""

from controlcenter.web.dashboard import DASHBOARD_DIR, DashboardFiles, Me, mount_dashboard, router

__all__ = ["DASHBOARD_DIR", "DashboardFiles", "Me", "mount_dashboard", "router"]
