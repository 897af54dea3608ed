"""Daily and monthly reports of a site or factory: air, energy, parking and alerts.

Figures come from the rollups (``readings_1h``, ``readings_5m``) and the alerts table
(:func:`gather`); one neutral document (:mod:`.document`) is written as PDF (ReportLab,
Korean font embedded) or as an Excel workbook (openpyxl), with matplotlib charts. The
archive keeps what was made for download, the subscribers get the scheduled ones by
e-mail (:class:`ReportScheduler`).
"""

from controlcenter.reports._scope import Scope
from controlcenter.reports.archive import ReportArchive, Subscriber
from controlcenter.reports.build import (
    MEDIA_TYPES,
    Format,
    Report,
    ReportRequest,
    gather,
    make_report,
    render,
)
from controlcenter.reports.document import ReportData
from controlcenter.reports.period import Kind, Period, PeriodError
from controlcenter.reports.schedule import ReportScheduler, due_periods

__all__ = [
    "MEDIA_TYPES",
    "Format",
    "Kind",
    "Period",
    "PeriodError",
    "Report",
    "ReportArchive",
    "ReportData",
    "ReportRequest",
    "ReportScheduler",
    "Scope",
    "Subscriber",
    "due_periods",
    "gather",
    "make_report",
    "render",
]
