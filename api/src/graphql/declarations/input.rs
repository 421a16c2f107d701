//! The filing as GraphQL input: the domain's [`RawFiling`], field for field. Every field is an
//! optional string, so a filing with any number of mistakes still reaches validation, which
//! reports all of them at once (with paths such as `items[3].hsCode`), instead of GraphQL
//! refusing the first wrong type.

use async_graphql::InputObject;
use domain::declaration::{RawFiling, RawHeader, RawItem};

/// A declaration as filed: a header and its item lines (1 to 999). Every field is an optional
/// string; amounts are decimal strings such as `"1000.00"`.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DeclarationInput {
    pub header: Option<DeclarationHeaderInput>,
    pub items: Option<Vec<DeclarationItemInput>>,
}

/// The declaration header as filed.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DeclarationHeaderInput {
    /// `import` or `export`.
    pub declaration_type: Option<String>,
    /// The declarant's local reference number, unique per declarant.
    pub lrn: Option<String>,
    /// The declarant's party id: a declarant files for its own organisation.
    pub declarant: Option<String>,
    /// The importer's party id (imports).
    pub importer: Option<String>,
    /// The exporter's party id (exports).
    pub exporter: Option<String>,
    pub customs_office: Option<String>,
    /// Mode of transport at the border: WCO code (`"4"`) or KCS code (`"40"`).
    pub transport_mode: Option<String>,
    /// ISO 3166-1 alpha-2 country of dispatch (imports) or export (exports).
    pub dispatch_country: Option<String>,
    /// Incoterms 2020 code, e.g. `CIF`, `FOB`, `EXW`.
    pub incoterm: Option<String>,
    /// ISO 4217 currency of the invoice.
    pub invoice_currency: Option<String>,
    /// Total invoice amount: the sum of the item invoice values.
    pub invoice_amount: Option<String>,
    /// Freight for the whole invoice, in the invoice currency.
    pub freight: Option<String>,
    /// Insurance for the whole invoice, in the invoice currency.
    pub insurance: Option<String>,
}

/// One goods item as filed.
#[derive(Debug, Clone, Default, InputObject)]
pub struct DeclarationItemInput {
    /// The 10-digit tariff code (6-digit HS + national digits).
    pub hs_code: Option<String>,
    pub description: Option<String>,
    /// ISO 3166-1 alpha-2 country of origin.
    pub origin_country: Option<String>,
    /// A preferential agreement claimed, e.g. `FCN1`.
    pub preference_claim: Option<String>,
    pub quantity: Option<String>,
    /// UN/ECE Recommendation 20 unit code, e.g. `KGM`, `NMB`, `LTR`.
    pub unit: Option<String>,
    /// Net mass in kilograms.
    pub net_mass: Option<String>,
    /// Gross mass in kilograms.
    pub gross_mass: Option<String>,
    /// Item invoice value in the invoice currency.
    pub invoice_value: Option<String>,
}

impl From<DeclarationInput> for RawFiling {
    fn from(input: DeclarationInput) -> Self {
        let h = input.header.unwrap_or_default();
        // Struct literals name every field: a field added to the domain's filing fails to
        // compile here until the input has it too.
        RawFiling {
            header: RawHeader {
                declaration_type: h.declaration_type,
                lrn: h.lrn,
                declarant: h.declarant,
                importer: h.importer,
                exporter: h.exporter,
                customs_office: h.customs_office,
                transport_mode: h.transport_mode,
                dispatch_country: h.dispatch_country,
                incoterm: h.incoterm,
                invoice_currency: h.invoice_currency,
                invoice_amount: h.invoice_amount,
                freight: h.freight,
                insurance: h.insurance,
            },
            items: input
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|i| RawItem {
                    hs_code: i.hs_code,
                    description: i.description,
                    origin_country: i.origin_country,
                    preference_claim: i.preference_claim,
                    quantity: i.quantity,
                    unit: i.unit,
                    net_mass: i.net_mass,
                    gross_mass: i.gross_mass,
                    invoice_value: i.invoice_value,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Probe;

    #[Object]
    impl Probe {
        async fn probe(&self, _input: DeclarationInput) -> bool {
            true
        }
    }

    /// The fields of a GraphQL input type, read from the SDL.
    fn input_fields(sdl: &str, name: &str) -> BTreeSet<String> {
        let start = sdl
            .find(&format!("input {name} {{"))
            .unwrap_or_else(|| panic!("input {name} missing"));
        let body = &sdl[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
        let mut fields = BTreeSet::new();
        let mut in_doc = false;
        for line in body.lines().map(str::trim) {
            if line == "\"\"\"" {
                in_doc = !in_doc;
            } else if !in_doc && !line.is_empty() && !line.starts_with('"') {
                let name = line.split(':').next().unwrap().trim();
                fields.insert(name.to_owned());
            }
        }
        fields
    }

    /// The camelCase JSON keys of a domain value.
    fn json_keys(value: &impl serde::Serialize) -> BTreeSet<String> {
        let json = serde_json::to_value(value).unwrap();
        json.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_input_types_have_exactly_the_fields_of_the_domain_filing() {
        let sdl = Schema::build(Probe, EmptyMutation, EmptySubscription)
            .finish()
            .sdl();
        assert_eq!(
            input_fields(&sdl, "DeclarationInput"),
            json_keys(&RawFiling::default())
        );
        assert_eq!(
            input_fields(&sdl, "DeclarationHeaderInput"),
            json_keys(&RawHeader::default())
        );
        assert_eq!(
            input_fields(&sdl, "DeclarationItemInput"),
            json_keys(&RawItem::default())
        );
    }

    #[test]
    fn every_field_reaches_the_domain_filing() {
        let s = |v: &str| Some(v.to_owned());
        let input = DeclarationInput {
            header: Some(DeclarationHeaderInput {
                declaration_type: s("import"),
                lrn: s("L"),
                invoice_amount: s("1.00"),
                insurance: s("2"),
                ..Default::default()
            }),
            items: Some(vec![DeclarationItemInput {
                hs_code: s("8471300000"),
                invoice_value: s("1.00"),
                ..Default::default()
            }]),
        };
        let filing = RawFiling::from(input);
        assert_eq!(filing.header.lrn.as_deref(), Some("L"));
        assert_eq!(filing.header.insurance.as_deref(), Some("2"));
        assert_eq!(filing.items[0].hs_code.as_deref(), Some("8471300000"));
        assert_eq!(filing.items[0].invoice_value.as_deref(), Some("1.00"));
        assert_eq!(
            RawFiling::from(DeclarationInput::default()),
            RawFiling::default()
        );
    }
}
