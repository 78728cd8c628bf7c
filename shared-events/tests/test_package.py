import re

import shared_events


def test_package_reports_a_semver_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", shared_events.__version__)
