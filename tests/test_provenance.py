"""Run summaries name the code that produced them."""

from __future__ import annotations

import re

import equimanip
from equimanip.provenance import code_revision


def test_code_revision_names_the_version_and_the_commit_in_a_checkout():
    revision = code_revision()
    assert revision.startswith(equimanip.__version__)
    # in a git checkout (as in CI) the short commit follows; an installed copy gives the version alone
    assert re.fullmatch(re.escape(equimanip.__version__) + r"(\+g[0-9a-f]{4,40}(\.dirty)?)?", revision), revision
