//! A filing as one JSON object: [`RawFiling`]'s camelCase fields, absent ones left out (serde
//! would write them as `null`).

use domain::declaration::{RawFiling, RawHeader, RawItem};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// [`RawFiling`] as JSON without its absent fields. The destructuring names every field, so a
/// field added to the filing does not compile until it is written here too.
pub(super) struct Compact<'a>(pub(super) &'a RawFiling);

impl Serialize for Compact<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let RawFiling { header, items } = self.0;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("header", &CompactHeader(header))?;
        map.serialize_entry("items", &CompactItems(items))?;
        map.end()
    }
}

struct CompactHeader<'a>(&'a RawHeader);

impl Serialize for CompactHeader<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let RawHeader {
            declaration_type,
            lrn,
            declarant,
            importer,
            exporter,
            customs_office,
            transport_mode,
            dispatch_country,
            incoterm,
            invoice_currency,
            invoice_amount,
            freight,
            insurance,
        } = self.0;
        present_fields(
            s,
            [
                ("declarationType", declaration_type),
                ("lrn", lrn),
                ("declarant", declarant),
                ("importer", importer),
                ("exporter", exporter),
                ("customsOffice", customs_office),
                ("transportMode", transport_mode),
                ("dispatchCountry", dispatch_country),
                ("incoterm", incoterm),
                ("invoiceCurrency", invoice_currency),
                ("invoiceAmount", invoice_amount),
                ("freight", freight),
                ("insurance", insurance),
            ],
        )
    }
}

struct CompactItems<'a>(&'a [RawItem]);

impl Serialize for CompactItems<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(CompactItem))
    }
}

struct CompactItem<'a>(&'a RawItem);

impl Serialize for CompactItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let RawItem {
            hs_code,
            description,
            origin_country,
            preference_claim,
            quantity,
            unit,
            net_mass,
            gross_mass,
            invoice_value,
        } = self.0;
        present_fields(
            s,
            [
                ("hsCode", hs_code),
                ("description", description),
                ("originCountry", origin_country),
                ("preferenceClaim", preference_claim),
                ("quantity", quantity),
                ("unit", unit),
                ("netMass", net_mass),
                ("grossMass", gross_mass),
                ("invoiceValue", invoice_value),
            ],
        )
    }
}

fn present_fields<S: Serializer, const N: usize>(
    s: S,
    fields: [(&str, &Option<String>); N],
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    for (key, value) in fields {
        if let Some(value) = value {
            map.serialize_entry(key, value)?;
        }
    }
    map.end()
}
