"""Every name in controlcenter.paging.__all__ exists and is documented."""

import controlcenter.paging


def test_paging_exports_exist_and_have_docstrings():
    for name in controlcenter.paging.__all__:
        member = getattr(controlcenter.paging, name)
        assert member.__doc__, name
