"""Bank files in each agency bank's layout (policy/banks.toml): fixed-width GB18030 by
default, CSV for the other bank; header and trailer carry the count and the control total."""

from __future__ import annotations

from backend.banks.layout import load_banks
from tests.backend.conftest import Api, valid_id
from tests.backend.test_benefits_more import OLD, _pensioner
from tests.backend.test_benefits_worked import run


def test_the_default_bank_gets_fixed_width_gb18030_with_control_totals(api: Api) -> None:
    _pensioner(api, OLD, "赵大爷", bank="6217 0000 1111")
    _pensioner(api, valid_id("110105", "19440101", "023"), "钱奶奶", bank="6217 0000 1111")
    _pensioner(api, valid_id("110105", "19430101", "027"), "欧阳长名字老人家")
    paid = run(api, "2010-08")
    api.approve_run(paid["run_id"])
    r = api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; charset=gb18030"
    data = r.content
    layout = load_banks().get(None)
    assert (layout.code, layout.format, layout.encoding) == ("rcb", "fixed", "gb18030")
    lines = data.split(b"\r\n")[:-1]
    widths = {
        ch: sum(w for _, w in spec)
        for ch, spec in zip(b"HDT", (layout.header, layout.detail, layout.trailer), strict=True)
    }
    assert all(len(line) == widths[line[0]] for line in lines)  # bytes, not characters
    assert "欧阳长名字老人家".encode("gb18030") in data
    header, details, trailer = layout.read(data, returns=False)
    assert (header["count"], header["total_fen"], header["period"]) == ("2", "16500", "2010-08")
    assert (trailer["count"], trailer["total_fen"], trailer["persons"]) == ("2", "16500", "3")
    couple = next(d for d in details if d["account"] == "6217 0000 1111")
    assert (couple["amount_fen"], couple["persons"]) == ("11000", "2")
    assert couple["name"] in ("赵大爷", "钱奶奶")  # the first payee's, by person id
    alone = next(d for d in details if d["account"] == "")
    assert alone["id_number"] == valid_id("110105", "19430101", "027")  # the card's account
    # frozen: the same bytes again; another bank for the same run is refused (paid once)
    assert api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file").content == data
    other = api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file?bank=ccb_csv")
    assert other.status_code == 409 and other.json()["code"] == "bank_file_frozen"
    unknown = api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file?bank=nope")
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_bank"


def test_fixed_width_cuts_a_long_name_at_a_character_never_an_account() -> None:
    import pytest

    layout = load_banks().get("rcb")
    head = {"bank": "rcb", "batch": "dsb_1", "period": "2010-08", "count": 1, "total_fen": 5500}
    line = {"seq": 1, "account": "6217", "id_number": "X", "amount_fen": 5500, "persons": 1}
    long_name = "阿" * 21 + "Z"  # 42 bytes in GB18030: one character too many
    data = layout.write(head, [{**line, "name": long_name}], {**head, "persons": 1})
    _, [detail], _ = layout.read(data, returns=False)
    assert detail["name"] == "阿" * 20  # 40 bytes, no half character
    with pytest.raises(ValueError, match="account is longer"):
        layout.write(head, [{**line, "account": "6" * 33, "name": "x"}], {**head, "persons": 1})
    with pytest.raises(ValueError, match="does not fit"):
        layout.write(head, [{**line, "amount_fen": -5, "name": "x"}], {**head, "persons": 1})
