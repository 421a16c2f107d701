//! `aduana demo generate`: synthetic import declarations for demos and benchmarks, one JSON
//! object per line (NDJSON) in the shape of the GraphQL `DeclarationInput`, valid against the
//! sample reference data on the filing date, with a chosen fraction deliberately invalid.
//!
//! Output depends only on the seed, the options and the filing date: the same command prints
//! the same bytes. Everything is drawn from a ChaCha8 stream with integer arithmetic and
//! [`Decimal`]s (no floating point reaches a value), so it is the same on every platform. The
//! invalid lines are chosen from a second stream, so raising `--invalid-rate` spoils some lines
//! and leaves the others as they were.
//!
//! How realistic values are drawn (frequencies from the KCS synthetic declarations,
//! `kcs-synthetic/train.csv`, 37,385 lines of 2020, MIT; counted once and embedded in
//! `demo/tables.rs`):
//! - tariff line: the 300 most frequent KCS HS6 codes with their frequency (among the 10-digit
//!   lines of the subheading), the remaining 37 % by KCS chapter, evenly over that chapter's
//!   other lines in the schedule; the line's text is the goods description;
//! - origin ("Country of Origin"); dispatch = origin for 80 % of declarations as in KCS, else
//!   from "Country of Departure" where it differs from the origin; 85 % of a declaration's items
//!   share its first item's origin;
//! - transport mode and office: the 40 most frequent (mode, office) pairs;
//! - item value: the KCS "Item Price" (KRW) quantiles, 64 bins interpolated linearly, of the
//!   lines worth at least 10,000 KRW (the lower half of the data is CTGAN noise down to 0.06 KRW)
//!   and cut at the 99.9th percentile; converted at the customs rate in force to the invoice
//!   currency (the dispatch country's own currency as often as `tables::LOCAL_CURRENCY` says,
//!   else USD, 5 % KRW; a currency without a rate that day falls back to USD, then KRW);
//! - preference claim: claimed for 57 % of the items whose origin qualifies under one of the
//!   line's agreements on the filing date (the KCS share), under the one with the lowest rate;
//! - net mass from the value and a value density per kind of goods (KCS's own masses give a
//!   median of 280 KRW/kg, not plausible), gross mass 1-25 % above it; unit by kind of goods
//!   (KGM, LTR, H87, PR; the unit of a specific duty where the line has one);
//! - items per declaration: 1-6, 3.1 on average (KCS has one item per declaration), or fixed;
//!   incoterm by transport mode, freight and insurance where the incoterm leaves them out.

mod catalog;
mod draw;
mod generator;
mod json;
mod mistakes;
mod tables;

use std::io::{self, BufWriter, Write};

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use domain::codes::PartyId;
use domain::declaration::{RawFiling, ValidationCode};

pub use catalog::Catalog;
pub use generator::Generator;

/// The most declarations one run writes: the LRN `DEMO-<seed>-<n>` must stay within 35
/// characters.
pub const MAX_DECLARATIONS: u64 = 999_999_999;

/// `aduana demo …`: data for demonstrations.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Print synthetic import declarations as NDJSON (one `DeclarationInput` per line), valid
    /// against the sample reference data on the filing date, a chosen fraction invalid.
    Generate(DemoGenerateArgs),
}

/// `aduana demo generate`.
#[derive(Debug, Clone, Args)]
pub struct DemoGenerateArgs {
    /// How many declarations (lines) to print.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_DECLARATIONS))]
    pub declarations: u64,
    /// Seed of the random draws: the same seed and options print the same lines.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fraction of declarations (0 to 1) with one deliberate mistake the server rejects.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub invalid_rate: f64,
    /// The declarant of every line (a declarant's token files only for its own organisation).
    #[arg(long, default_value = "DEMO", value_parser = parse_party)]
    pub declarant: String,
    /// Items per declaration (default: 1 to 6, 3.1 on average).
    #[arg(
        long,
        visible_alias = "items-per-declaration",
        value_parser = clap::value_parser!(u16).range(1..=999)
    )]
    pub items: Option<u16>,
    /// The filing date the lines must be valid on (default: today in Korea, UTC+9).
    #[arg(long)]
    pub filing_date: Option<NaiveDate>,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a fraction from 0 to 1 (e.g. 0.05), got {s:?}"
        )),
    }
}

fn parse_party(s: &str) -> Result<String, String> {
    PartyId::parse(s)
        .map(String::from)
        .map_err(|_| "expected 1-35 characters of A-Z a-z 0-9 - _ . :".to_owned())
}

/// Runs `aduana demo …`, writing to standard output.
pub fn run_command(command: &DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::Generate(args) => run(args, io::stdout().lock()),
    }
}

/// Writes `args.declarations` lines to `out` (buffered). A closed pipe (`| head`) ends the
/// output quietly.
pub fn run(args: &DemoGenerateArgs, out: impl Write) -> anyhow::Result<()> {
    let config = DemoConfig {
        declarations: args.declarations,
        seed: args.seed,
        invalid_rate: args.invalid_rate,
        declarant: args.declarant.clone(),
        items: args.items,
        filing_date: args.filing_date.unwrap_or_else(today_in_korea),
    };
    let catalog = Catalog::sample(config.filing_date)?;
    match write_ndjson(Generator::new(&catalog, config), out) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes each declaration as one line.
pub fn write_ndjson(generated: impl Iterator<Item = Generated>, out: impl Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    for g in generated {
        g.write_json(&mut out)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Today in Korea (UTC+9), the date the server files on.
pub fn today_in_korea() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub declarations: u64,
    pub seed: u64,
    /// Fraction of declarations made invalid, 0 to 1.
    pub invalid_rate: f64,
    pub declarant: String,
    /// Items per declaration; `None`: 1 to 6, 3.1 on average.
    pub items: Option<u16>,
    /// The date the lines are valid on (its tariff, preferences and exchange rates).
    pub filing_date: NaiveDate,
}

/// Why the catalogue cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the sample reference data does not load: {0}")]
    Sample(String),
    #[error("no tariff line of the KCS chapters is in force on {0}")]
    NoTariff(NaiveDate),
    #[error("a table of countries or offices is empty")]
    EmptyTable,
    #[error("unit {0} is not in the reference unit list")]
    UnknownUnit(&'static str),
}

/// One generated declaration, and the mistake put in it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub filing: RawFiling,
    pub invalid_kind: Option<InvalidKind>,
}

impl Generated {
    /// The JSON line (without its line feed).
    pub fn line(&self) -> String {
        // Serializing strings into memory cannot fail.
        serde_json::to_string(&json::Compact(&self.filing)).unwrap_or_default()
    }

    /// Writes the JSON object: [`RawFiling`]'s fields, camelCase, absent fields left out.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(out, &json::Compact(&self.filing)).map_err(io::Error::from)
    }
}

/// The mistake in an invalid line: one per line, each kind equally likely, each rejected with
/// exactly one validation code ([`InvalidKind::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidKind {
    /// An item's national digits not in the schedule (`8471309999`): `UNKNOWN_TARIFF_CODE`.
    UnknownTariffCode,
    /// Origin or dispatch country `UK`, `EU`, `XK`, `CHN` or `KO`: `INVALID_COUNTRY`.
    InvalidCountry,
    /// An item's gross mass 10 % below its net mass: `NET_MASS_EXCEEDS_GROSS`.
    NetMassExceedsGross,
    /// Invoice currency `RMB`, `NTD`, `YEN`, `EURO` or `US$`: `INVALID_CURRENCY`.
    UnknownCurrency,
    /// An ISO currency without a customs rate that day (`TWD`, `AED`, `SAR`, `QAR`):
    /// `NO_EXCHANGE_RATE`.
    NoExchangeRate,
    /// Importer, office, incoterm or invoice amount left out, or an item's code, description,
    /// origin, unit, net mass or value: `MISSING_FIELD`.
    MissingField,
    /// A claim under an agreement the item's origin does not qualify for (`FCN1` for goods of
    /// Japan), or that the line does not have: `PREFERENCE_NOT_VALID_FOR_ORIGIN`.
    PreferenceNotValidForOrigin,
    /// An item's value or quantity, or the freight, negative: `NEGATIVE_AMOUNT`.
    NegativeAmount,
    /// Unit `NMB`, `PCE` or `PCS` (not in Recommendation 20), or `kg`: `INVALID_UNIT`.
    InvalidUnit,
    /// The invoice amount without the last item, or with the freight added:
    /// `INVOICE_TOTAL_MISMATCH`.
    InvoiceTotalMismatch,
}

impl InvalidKind {
    /// Every kind.
    pub const ALL: [InvalidKind; 10] = [
        Self::UnknownTariffCode,
        Self::InvalidCountry,
        Self::NetMassExceedsGross,
        Self::UnknownCurrency,
        Self::NoExchangeRate,
        Self::MissingField,
        Self::PreferenceNotValidForOrigin,
        Self::NegativeAmount,
        Self::InvalidUnit,
        Self::InvoiceTotalMismatch,
    ];

    /// The one validation code the server rejects the line with.
    pub fn code(self) -> ValidationCode {
        match self {
            Self::UnknownTariffCode => ValidationCode::UnknownTariffCode,
            Self::InvalidCountry => ValidationCode::InvalidCountry,
            Self::NetMassExceedsGross => ValidationCode::NetMassExceedsGross,
            Self::UnknownCurrency => ValidationCode::InvalidCurrency,
            Self::NoExchangeRate => ValidationCode::NoExchangeRate,
            Self::MissingField => ValidationCode::MissingField,
            Self::PreferenceNotValidForOrigin => ValidationCode::PreferenceNotValidForOrigin,
            Self::NegativeAmount => ValidationCode::NegativeAmount,
            Self::InvalidUnit => ValidationCode::InvalidUnit,
            Self::InvoiceTotalMismatch => ValidationCode::InvoiceTotalMismatch,
        }
    }
}
