"""CSV cells a spreadsheet would run as formulas are escaped; numbers stay numbers."""

from __future__ import annotations

import io

from hub.export import SafeWriter, safe_cell


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped() -> None:
    assert safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    for text in ("+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"):
        assert safe_cell(text) == "'" + text
    for kept in ("-6.50", "+2", "12", "浙HA1234", "", 7, None, "a=b"):
        assert safe_cell(kept) == kept
    out = io.StringIO()
    SafeWriter(out).writerow(["=cmd|' /C calc'!A0", "-1.25", "ok"])
    assert out.getvalue().startswith("'=cmd")
    assert ",-1.25,ok" in out.getvalue()
