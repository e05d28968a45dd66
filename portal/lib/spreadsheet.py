"""Text that is safe to open in a spreadsheet: the one helper for every CSV people download.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula
by spreadsheet programs (CSV injection), so it is written with a leading `'`. A plain
number (`-3.2`, `+1e5`) is left as it is: it cannot run anything and stays a number.

Only for downloads meant for people. Exports that are re-imported (the JSON download,
`export_mitigations`) write the values exactly.
"""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
