//! A declaration's data once validated: the header and the item lines, every field parsed.
//! Field names follow the WCO Data Model where it has a name.

use crate::codes::{
    AgreementCode, CountryCode, CurrencyCode, DeclarationType, HsCode, Incoterm, Lrn, OfficeCode,
    PartyId, TransportMode, UnitCode,
};
use crate::duty::{AssessmentInput, ItemInput};
use crate::risk::RiskSubject;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The declaration header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub declaration_type: DeclarationType,
    /// The declarant's local reference number, unique per declarant.
    pub lrn: Lrn,
    pub declarant: PartyId,
    /// Present on imports.
    pub importer: Option<PartyId>,
    /// Present on exports.
    pub exporter: Option<PartyId>,
    pub customs_office: OfficeCode,
    /// Mode of transport at the border.
    pub transport_mode: TransportMode,
    /// Country of dispatch (imports) or export (exports).
    pub dispatch_country: CountryCode,
    pub incoterm: Incoterm,
    pub invoice_currency: CurrencyCode,
    /// Total invoice amount: the sum of the item invoice values.
    pub invoice_amount: Decimal,
    /// Freight and insurance for the whole invoice, in the invoice currency, when declared.
    pub freight: Option<Decimal>,
    pub insurance: Option<Decimal>,
    /// The day the declaration was filed (given by the command, not the declarant); the rates
    /// in force on this day apply.
    pub filing_date: NaiveDate,
}

/// One goods item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub hs_code: HsCode,
    pub description: String,
    pub origin_country: CountryCode,
    /// A preferential agreement claimed, e.g. `FCN1`.
    pub preference_claim: Option<AgreementCode>,
    pub quantity: Decimal,
    pub unit: UnitCode,
    /// Net and gross mass in kilograms.
    pub net_mass: Decimal,
    pub gross_mass: Option<Decimal>,
    /// Item invoice value in the invoice currency.
    pub invoice_value: Decimal,
}

/// A validated declaration: header and 1-999 items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationData {
    pub header: Header,
    pub items: Vec<Item>,
}

impl DeclarationData {
    /// The party that imports or exports, by declaration type.
    pub fn trader(&self) -> Option<&PartyId> {
        match self.header.declaration_type {
            DeclarationType::Import => self.header.importer.as_ref(),
            DeclarationType::Export => self.header.exporter.as_ref(),
        }
    }

    /// What the duty assessment needs.
    pub fn assessment_input(&self) -> AssessmentInput<'_> {
        let h = &self.header;
        AssessmentInput {
            declaration_type: h.declaration_type,
            incoterm: h.incoterm,
            invoice_currency: h.invoice_currency,
            freight: h.freight.unwrap_or_default(),
            insurance: h.insurance.unwrap_or_default(),
            filing_date: h.filing_date,
            items: self
                .items
                .iter()
                .map(|i| ItemInput {
                    hs_code: &i.hs_code,
                    origin: i.origin_country,
                    preference_claim: i.preference_claim.as_ref(),
                    quantity: i.quantity,
                    unit: &i.unit,
                    invoice_value: i.invoice_value,
                })
                .collect(),
        }
    }

    /// What the risk rules look at.
    pub fn risk_subject(
        &self,
        declaration_id: Uuid,
        customs_value: Decimal,
        importer_fraud_findings: u32,
    ) -> RiskSubject<'_> {
        let h = &self.header;
        let mut parties = vec![("declarant", &h.declarant)];
        parties.extend(h.importer.iter().map(|p| ("importer", p)));
        parties.extend(h.exporter.iter().map(|p| ("exporter", p)));
        RiskSubject {
            declaration_id,
            items: self
                .items
                .iter()
                .map(|i| (&i.hs_code, i.origin_country))
                .collect(),
            customs_value,
            parties,
            importer_fraud_findings,
        }
    }
}
