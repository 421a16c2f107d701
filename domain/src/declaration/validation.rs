//! Validation of a raw filing: every field parsed, every rule checked, every error reported at
//! once with a stable code, a camelCase field path (`items[3].hsCode`) and a message.

use super::data::{DeclarationData, Header, Item};
use super::filing::{RawFiling, RawItem};
use super::validation_error::{ValidationCode, ValidationError};
use crate::codes::{
    AgreementCode, CodeError, CountryCode, CurrencyCode, DeclarationType, HsCode, Incoterm, Lrn,
    OfficeCode, PartyId, TransportMode, UnitCode,
};
use crate::duty::AssessmentPolicy;
use crate::money::{MAX_DECIMAL_PLACES, parse_amount};
use crate::reference::ReferenceSnapshot;
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// The most items a declaration may have.
pub const MAX_ITEMS: usize = 999;

/// The longest goods description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// The reference data and rules a filing is validated against.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    pub reference: &'a ReferenceSnapshot,
    pub policy: &'a AssessmentPolicy,
    pub filing_date: NaiveDate,
}

/// Validates `raw` and returns the parsed declaration, or every error found.
pub fn validate(
    raw: &RawFiling,
    ctx: ValidationContext<'_>,
) -> Result<DeclarationData, Vec<ValidationError>> {
    let mut v = Collector::default();
    let h = &raw.header;
    let declaration_type = v.required(
        "header.declarationType",
        &h.declaration_type,
        DeclarationType::parse,
    );
    let lrn = v.required("header.lrn", &h.lrn, Lrn::parse);
    let declarant = v.required("header.declarant", &h.declarant, PartyId::parse);
    let (importer, exporter) = match declaration_type {
        Some(DeclarationType::Import) => (
            v.required("header.importer", &h.importer, PartyId::parse),
            v.optional("header.exporter", &h.exporter, PartyId::parse),
        ),
        Some(DeclarationType::Export) => (
            v.optional("header.importer", &h.importer, PartyId::parse),
            v.required("header.exporter", &h.exporter, PartyId::parse),
        ),
        None => (
            v.optional("header.importer", &h.importer, PartyId::parse),
            v.optional("header.exporter", &h.exporter, PartyId::parse),
        ),
    };
    let customs_office = v.required("header.customsOffice", &h.customs_office, OfficeCode::parse);
    let transport_mode = v.required(
        "header.transportMode",
        &h.transport_mode,
        TransportMode::parse,
    );
    let dispatch_country = v.required(
        "header.dispatchCountry",
        &h.dispatch_country,
        CountryCode::parse,
    );
    let incoterm = v.required("header.incoterm", &h.incoterm, Incoterm::parse);
    let currency = v.required(
        "header.invoiceCurrency",
        &h.invoice_currency,
        CurrencyCode::parse,
    );
    let money_places = currency.map_or(MAX_DECIMAL_PLACES, |c| c.minor_units());
    let invoice_amount = v.amount(
        "header.invoiceAmount",
        &h.invoice_amount,
        true,
        money_places,
    );
    let freight_needed = incoterm.is_some_and(Incoterm::adds_freight);
    let insurance_needed = incoterm.is_some_and(Incoterm::adds_insurance);
    let freight = v.amount("header.freight", &h.freight, freight_needed, money_places);
    let insurance = v.amount(
        "header.insurance",
        &h.insurance,
        insurance_needed,
        money_places,
    );
    if let Some(c) = currency
        && c != ctx.policy.national_currency
        && ctx.reference.exchange_rate(c, ctx.filing_date).is_none()
    {
        v.push(
            ValidationCode::NoExchangeRate,
            "header.invoiceCurrency",
            format!(
                "no exchange rate for {c} is in force on {}",
                ctx.filing_date
            ),
        );
    }

    if raw.items.is_empty() {
        v.push(
            ValidationCode::NoItems,
            "items",
            "a declaration needs at least one item",
        );
    }
    if raw.items.len() > MAX_ITEMS {
        v.push(
            ValidationCode::TooManyItems,
            "items",
            format!("{} items; a declaration has at most {MAX_ITEMS} (only the first {MAX_ITEMS} were checked)", raw.items.len()),
        );
    }
    let is_import = declaration_type == Some(DeclarationType::Import);
    let items: Vec<Option<Item>> = raw
        .items
        .iter()
        .take(MAX_ITEMS)
        .enumerate()
        .map(|(i, item)| validate_item(&mut v, i, item, money_places, is_import, &ctx))
        .collect();

    if let Some(total) = invoice_amount
        && items.iter().all(Option::is_some)
        && !items.is_empty()
    {
        let sum: Decimal = items.iter().flatten().map(|i| i.invoice_value).sum();
        if sum != total {
            v.push(
                ValidationCode::InvoiceTotalMismatch,
                "header.invoiceAmount",
                format!(
                    "the invoice amount {total} is not the sum of the item invoice values {sum}"
                ),
            );
        }
    }

    let header = (|| {
        Some(Header {
            declaration_type: declaration_type?,
            lrn: lrn?,
            declarant: declarant?,
            importer,
            exporter,
            customs_office: customs_office?,
            transport_mode: transport_mode?,
            dispatch_country: dispatch_country?,
            incoterm: incoterm?,
            invoice_currency: currency?,
            invoice_amount: invoice_amount?,
            freight,
            insurance,
            filing_date: ctx.filing_date,
        })
    })();
    let items: Option<Vec<Item>> = items.into_iter().collect();
    match (header, items, v.errors.is_empty()) {
        (Some(header), Some(items), true) => Ok(DeclarationData { header, items }),
        _ => Err(v.errors),
    }
}

fn validate_item(
    v: &mut Collector,
    i: usize,
    item: &RawItem,
    money_places: u32,
    is_import: bool,
    ctx: &ValidationContext<'_>,
) -> Option<Item> {
    let path = |field: &str| format!("items[{i}].{field}");
    let hs_code = v.required(&path("hsCode"), &item.hs_code, HsCode::parse);
    let description = v.required(
        &path("description"),
        &item.description,
        |s| Ok(s.to_owned()),
    );
    if let Some(d) = &description
        && d.chars().count() > MAX_DESCRIPTION_CHARS
    {
        v.push(
            ValidationCode::FieldTooLong,
            path("description"),
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        );
    }
    let origin = v.required(
        &path("originCountry"),
        &item.origin_country,
        CountryCode::parse,
    );
    let claim = v.optional(
        &path("preferenceClaim"),
        &item.preference_claim,
        AgreementCode::parse,
    );
    let quantity = v.amount(&path("quantity"), &item.quantity, true, MAX_DECIMAL_PLACES);
    let unit = v.required(&path("unit"), &item.unit, UnitCode::parse);
    if let Some(u) = &unit
        && !ctx.reference.is_known_unit(u)
    {
        v.push(
            ValidationCode::InvalidUnit,
            path("unit"),
            format!("{u} is not in the published unit code list"),
        );
    }
    let net_mass = v.amount(&path("netMass"), &item.net_mass, true, MAX_DECIMAL_PLACES);
    let gross_mass = v.amount(
        &path("grossMass"),
        &item.gross_mass,
        false,
        MAX_DECIMAL_PLACES,
    );
    if let (Some(net), Some(gross)) = (net_mass, gross_mass)
        && net > gross
    {
        v.push(
            ValidationCode::NetMassExceedsGross,
            path("netMass"),
            format!("net mass {net} kg exceeds gross mass {gross} kg"),
        );
    }
    let invoice_value = v.amount(
        &path("invoiceValue"),
        &item.invoice_value,
        true,
        money_places,
    );

    if let Some(code) = &hs_code {
        match ctx.reference.tariff_line(code, ctx.filing_date) {
            None => v.push(
                ValidationCode::UnknownTariffCode,
                path("hsCode"),
                format!(
                    "{code} is not in the tariff schedule in force on {}",
                    ctx.filing_date
                ),
            ),
            Some(line) if is_import => {
                if let (Some(agreement), Some(origin)) = (&claim, origin) {
                    match line.preference(agreement) {
                        None => v.push(
                            ValidationCode::PreferenceNotValidForOrigin,
                            path("preferenceClaim"),
                            format!(
                                "tariff line {code} has no preferential rate under {agreement}"
                            ),
                        ),
                        Some(p) if !p.origins.contains(&origin) => v.push(
                            ValidationCode::PreferenceNotValidForOrigin,
                            path("preferenceClaim"),
                            format!("origin {origin} does not qualify for {agreement}"),
                        ),
                        Some(_) => {}
                    }
                }
                if let (Some((_, required)), Some(declared)) = (line.duty.specific(), &unit)
                    && required != declared
                {
                    v.push(
                        ValidationCode::UnitMismatch,
                        path("unit"),
                        format!("the specific duty of {code} is per {required}; declare the quantity in {required}, not {declared}"),
                    );
                }
            }
            Some(_) => {}
        }
    }

    Some(Item {
        hs_code: hs_code?,
        description: description?,
        origin_country: origin?,
        preference_claim: claim,
        quantity: quantity?,
        unit: unit?,
        net_mass: net_mass?,
        gross_mass,
        invoice_value: invoice_value?,
    })
}

#[derive(Default)]
struct Collector {
    errors: Vec<ValidationError>,
}

impl Collector {
    fn push(&mut self, code: ValidationCode, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError::new(code, path, message));
    }

    /// The text of a field, `None` when absent or blank.
    fn present(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|s| !s.trim().is_empty())
    }

    fn required<T>(
        &mut self,
        path: &str,
        value: &Option<String>,
        parse: impl Fn(&str) -> Result<T, CodeError>,
    ) -> Option<T> {
        match Self::present(value) {
            None => {
                self.push(ValidationCode::MissingField, path, "this field is required");
                None
            }
            Some(s) => self.parse(path, s, parse),
        }
    }

    fn optional<T>(
        &mut self,
        path: &str,
        value: &Option<String>,
        parse: impl Fn(&str) -> Result<T, CodeError>,
    ) -> Option<T> {
        Self::present(value).and_then(|s| self.parse(path, s, parse))
    }

    fn parse<T>(
        &mut self,
        path: &str,
        s: &str,
        parse: impl Fn(&str) -> Result<T, CodeError>,
    ) -> Option<T> {
        parse(s)
            .map_err(|e| self.push(ValidationCode::of_code_error(&e), path, e.to_string()))
            .ok()
    }

    fn amount(
        &mut self,
        path: &str,
        value: &Option<String>,
        required: bool,
        places: u32,
    ) -> Option<Decimal> {
        match Self::present(value) {
            None if required => {
                self.push(ValidationCode::MissingField, path, "this field is required");
                None
            }
            None => None,
            Some(s) => parse_amount(s, places)
                .map_err(|e| self.push(ValidationCode::of_amount_error(&e), path, e.to_string()))
                .ok(),
        }
    }
}
