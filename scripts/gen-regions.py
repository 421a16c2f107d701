#!/usr/bin/env python3
"""Generate projections/data/country_regions.csv: the warehouse's country -> region map.

Development-time tool, not used at run time. Deterministic.

    pip install pycountry-convert==0.7.2 && python3 scripts/gen-regions.py > projections/data/country_regions.csv

Input: PyPI pycountry-convert 0.7.2 (MIT), which maps ISO 3166-1 alpha-2 codes to continents
(its data follows the Wikipedia list of countries by continent). The eight codes it lacks are
placed by hand below, each with its UN M49 continent.
"""

import csv
import sys

import pycountry_convert as pc

NAMES = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}
# Codes pycountry-convert does not place.
MISSING = {
    "AQ": "AN",  # Antarctica
    "EH": "AF",  # Western Sahara
    "PN": "OC",  # Pitcairn
    "SX": "NA",  # Sint Maarten
    "TF": "AN",  # French Southern Territories
    "TL": "AS",  # Timor-Leste
    "UM": "OC",  # US Minor Outlying Islands
    "VA": "EU",  # Holy See
}


def main():
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["country", "region", "region_name"])
    for alpha2 in sorted(pc.map_country_alpha2_to_country_name()):
        try:
            region = pc.country_alpha2_to_continent_code(alpha2)
        except KeyError:
            region = MISSING[alpha2]
        out.writerow([alpha2, region, NAMES[region]])


if __name__ == "__main__":
    main()
