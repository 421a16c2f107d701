//! The filing as it arrives from a trader: every field an optional string, so that a filing with
//! any number of mistakes still deserializes and validation can report all of them at once.
//! Amounts are decimal strings (`"1000.00"`), never JSON numbers.

use serde::{Deserialize, Serialize};

/// A declaration as filed, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawFiling {
    pub header: RawHeader,
    pub items: Vec<RawItem>,
}

/// The header as filed. See [`Header`](super::Header) for the meaning of each field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawHeader {
    /// `import` or `export`.
    pub declaration_type: Option<String>,
    pub lrn: Option<String>,
    pub declarant: Option<String>,
    pub importer: Option<String>,
    pub exporter: Option<String>,
    pub customs_office: Option<String>,
    /// WCO code (`"4"`) or KCS code (`"40"`).
    pub transport_mode: Option<String>,
    pub dispatch_country: Option<String>,
    pub incoterm: Option<String>,
    pub invoice_currency: Option<String>,
    pub invoice_amount: Option<String>,
    pub freight: Option<String>,
    pub insurance: Option<String>,
}

/// An item as filed. See [`Item`](super::Item) for the meaning of each field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawItem {
    pub hs_code: Option<String>,
    pub description: Option<String>,
    pub origin_country: Option<String>,
    pub preference_claim: Option<String>,
    pub quantity: Option<String>,
    pub unit: Option<String>,
    pub net_mass: Option<String>,
    pub gross_mass: Option<String>,
    pub invoice_value: Option<String>,
}
