//! Reference data over GraphQL: admins publish tariff lines, preferences, exchange rates and
//! unit codes as files (the formats of `aduana reference import`).

use async_graphql::{Context, InputObject, Object, SimpleObject};
use commands::reference::{self, ReferenceFiles};
use eventstore::EventStore;

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
