"""Every name in controlcenter.alerts.__all__ exists and is documented."""

import controlcenter.alerts


def test_alerts_exports_exist_and_have_docstrings():
    for name in controlcenter.alerts.__all__:
        member = getattr(controlcenter.alerts, name)
        assert member.__doc__, name
