"""Files exchanged with the county's agency banks: layouts (policy/banks.toml), writing the
disbursement file, reading the return file (回盘)."""
