"""Every name in controlcenter.reports.__all__ exists, and the public ones are documented."""

import inspect

import controlcenter.reports


def test_reports_exports_exist_and_are_documented():
    assert sorted(controlcenter.reports.__all__) == sorted(set(controlcenter.reports.__all__))
    for name in controlcenter.reports.__all__:
        member = getattr(controlcenter.reports, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__doc__, name
