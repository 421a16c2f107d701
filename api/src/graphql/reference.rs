//! Reference data over GraphQL: admins publish tariff lines, preferences, exchange rates and
//! unit codes as files (the formats of `aduana reference import`).

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use commands::declaration::DeclarationService;
use commands::reference::{self, ReferenceFiles};
use eventstore::EventStore;

use super::declarations::assessment::DutyRate;
use super::scalars::Decimal;

use crate::auth::{self, RequireRole, Role};
use crate::error::ApiError;
use crate::reference::Refresher;

/// Who may publish reference data.
const PUBLISHERS: &[Role] = &[Role::Admin];

/// One reference file: CSV (recognised by its header row) or JSON (by a name ending `.json`).
#[derive(Debug, Clone, InputObject)]
pub struct ReferenceFileInput {
    /// The file's name, as row errors will cite it.
    pub name: String,
    /// The file's text.
    pub content: String,
}

/// What publishing did.
#[derive(Debug, Clone, SimpleObject)]
pub struct ImportReport {
    /// Records in the files.
    pub records: u32,
    /// Events written now.
    pub written: u32,
    /// Records the store already held (the same data published before writes nothing).
    pub already_present: u32,
    /// Reference streams written to.
    pub streams: u32,
}

impl From<reference::ImportReport> for ImportReport {
    fn from(report: reference::ImportReport) -> Self {
        // Counts of records in one request body of at most 64 KiB.
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            records: count(report.records),
            written: count(report.written),
            already_present: count(report.already_present),
            streams: count(report.streams),
        }
    }
}

/// Most tariff lines one `tariffLines` answers.
const MAX_TARIFF_LINES: i32 = 50;

/// A tariff line in force: what the schedule says about one 10-digit code.
#[derive(Debug, SimpleObject)]
#[graphql(name = "TariffLine")]
pub struct TariffLineView {
    pub hs_code: String,
    pub description: String,
    /// The general duty rate.
    pub duty_rate: DutyRate,
    pub vat_pct: Decimal,
    /// The agreements with a preferential rate on this line, e.g. `FCN1`.
    pub preferences: Vec<String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// The reference-data fields of the root query.
#[derive(Debug, Default)]
pub struct ReferenceQuery;

#[Object]
impl ReferenceQuery {
    /// Tariff lines in force on a day (`on`, by default today in customs time) whose code
    /// starts with `search` (digits) or whose description contains it (words, any case), in
    /// code order, at most `first` (1-50). Any signed-in caller: the schedule is public.
    async fn tariff_lines(
        &self,
        ctx: &Context<'_>,
        search: String,
        on: Option<NaiveDate>,
        #[graphql(default = 20)] first: i32,
    ) -> async_graphql::Result<Vec<TariffLineView>> {
        auth::principal(ctx)?;
        if !(1..=MAX_TARIFF_LINES).contains(&first) {
            return Err(ApiError::invalid_argument("first", "give 1 to 50").into());
        }
        if search.chars().count() > 100 {
            return Err(ApiError::invalid_argument("search", "at most 100 characters").into());
        }
        let service = ctx.data::<DeclarationService>()?;
        let on = on.unwrap_or_else(|| service.filing_date_today());
        let snapshot = service.reference().snapshot();
        let first = usize::try_from(first).unwrap_or(1);
        Ok(snapshot
            .search_tariff(&search, on, first)
            .into_iter()
            .map(|line| TariffLineView {
                hs_code: line.hs_code.as_str().to_owned(),
                description: line.description.clone(),
                duty_rate: DutyRate::from(&line.duty),
                vat_pct: line.vat_pct.into(),
                preferences: line
                    .preferences
                    .iter()
                    .map(|p| p.agreement.as_str().to_owned())
                    .collect(),
                valid_from: line.valid_from,
                valid_to: line.valid_to,
            })
            .collect())
    }
}

/// The reference-data fields of the root mutation.
#[derive(Debug, Default)]
pub struct ReferenceMutation;

#[Object]
impl ReferenceMutation {
    /// Publishes reference data (admins). Files with any bad row are refused whole with code
    /// `REFERENCE_DATA_INVALID` and every row error in `extensions.rowErrors` (file, line,
    /// column, message); nothing is written then. Filings made after this answers use the new
    /// data.
    #[graphql(guard = "RequireRole(PUBLISHERS)")]
    async fn publish_reference_data(
        &self,
        ctx: &Context<'_>,
        files: Vec<ReferenceFileInput>,
    ) -> async_graphql::Result<ImportReport> {
        let principal = auth::principal(ctx)?;
        if files.is_empty() {
            return Err(ApiError::invalid_argument("files", "give at least one file").into());
        }
        let mut reference_files = ReferenceFiles::new();
        for file in &files {
            reference_files.add(&file.name, &file.content);
        }
        let events = reference_files.events().map_err(ApiError::ReferenceData)?;
        let store = ctx.data::<EventStore>()?;
        let report = reference::import(store, events, principal.actor().as_str())
            .await
            .map_err(ApiError::from)?;
        ctx.data::<Refresher>()?
            .refresh(store)
            .await
            .map_err(ApiError::from)?;
        Ok(report.into())
    }
}
