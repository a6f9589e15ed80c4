"""How personal data is shown masked, the same on every screen, slip and list.

Pure functions with no imports: the backend (backend/idnumber.py re-exports them), the kiosk
and the field app all use these, so a name or an ID number never looks different on the
kiosk's screen than on the county's lists.
"""

from __future__ import annotations


def mask_id(number: str) -> str:
    """110105********002X: region visible, birth date hidden, last four visible (DOMAIN.md)."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[14:]
    return "*" * max(len(number) - 4, 0) + number[-4:]


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the family name only, as on village publicity lists."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
