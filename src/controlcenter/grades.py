"""Air-quality grades (Korean comprehensive air-quality index bands for particulates).

The one place the grade tables live; the API's summaries and the alerts may both use them.
Bands in µg/m³, upper bounds inclusive: PM10 good 0-30, normal 31-80, bad 81-150, very bad
151+; PM2.5 good 0-15, normal 16-35, bad 36-75, very bad 76+.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = ["GRADE_BOUNDS", "Grade", "grade", "grade_codes", "worst"]


class Grade(StrEnum):
    """Air-quality grades, from best to worst."""

    GOOD = "good"
    NORMAL = "normal"
    BAD = "bad"
    VERY_BAD = "very_bad"


_ORDER = list(Grade)

#: Upper bound (inclusive, µg/m³) of good, normal and bad per metric; above is very bad.
GRADE_BOUNDS: Mapping[str, tuple[float, float, float]] = {
    "pm10": (30.0, 80.0, 150.0),
    "pm25": (15.0, 35.0, 75.0),
}


def grade(metric: str, value: float) -> Grade:
    """The grade of one particulate reading.

    >>> grade("pm10", 30), grade("pm10", 30.5), grade("pm25", 76)
    (<Grade.GOOD: 'good'>, <Grade.NORMAL: 'normal'>, <Grade.VERY_BAD: 'very_bad'>)
    """
    return _ORDER[int(grade_codes(metric, np.asarray([value], np.float64))[0])]


def grade_codes(metric: str, values: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Grade codes (0 good .. 3 very bad) of many readings of ``metric`` (pm10 or pm25).

    Raises:
        KeyError: for a metric without grades.
    """
    return np.searchsorted(np.asarray(GRADE_BOUNDS[metric]), values, side="left")


def worst(grades: list[Grade]) -> Grade | None:
    """The worst of some grades, or None for none.

    >>> worst([Grade.NORMAL, Grade.BAD, Grade.GOOD])
    <Grade.BAD: 'bad'>
    """
    return max(grades, key=_ORDER.index) if grades else None
