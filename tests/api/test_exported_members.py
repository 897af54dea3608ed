"""Every name in controlcenter.api.__all__ exists, and the public classes and functions
are documented."""

import inspect

import controlcenter.api


def test_api_exports_exist_and_are_documented():
    assert sorted(controlcenter.api.__all__) == sorted(set(controlcenter.api.__all__))
    for name in controlcenter.api.__all__:
        member = getattr(controlcenter.api, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__doc__, name
