"""The shipped area code -> state table is what the installed phonenumbers' geocoder says
(scripts/gen_nanp_states.py writes it): a phonenumbers upgrade that moves an area code
fails here, and the fix is to run the script again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from connector.domain.nanp_states import AREA_CODE_STATES
from connector.domain.zones import area_code_state

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_agrees_with_the_geocoder() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from gen_nanp_states import table
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert table() == AREA_CODE_STATES


def test_states_come_from_the_area_code() -> None:
    assert area_code_state("+13035550123") == "CO"
    assert area_code_state("+19075550123") == "AK"
    assert area_code_state("+14155550123") == "CA"
    assert area_code_state("+18005550123") is None  # toll-free: no state
    assert area_code_state("+442071838750") is None  # not NANP


def test_the_product_never_loads_the_geocoder() -> None:
    """The geocoder's data costs a process ~100 MB: the sidecar must not import it."""
    probe = (
        "import sys, connector.runtime.service, connector.domain.governance;"
        "print('phonenumbers.geocoder' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"
