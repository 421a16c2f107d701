//! Batches over GraphQL: `batch(id)` with the result of every item, and `batches(...)`.
//!
//! `batch(id)` reads the batch's stream through [`BatchService`], so a batch just sent is there
//! at once; its `results` are read from the stream too, a page at a time by item number.
//! `batches` lists from the `batches` read model (a projection of the log, so a batch sent a
//! moment ago may take a moment to appear), in Relay-style cursor pages, newest first.
//!
//! Who sees what follows `commands::batch::may_read`: a declarant sees its organisation's
//! batches, officers, auditors and admins all of them. A declarant asking for another
//! organisation's batch gets null, exactly as for one that does not exist. Integrators follow
//! the event feeds instead and get `FORBIDDEN`.

use async_graphql::{ComplexObject, Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};
use commands::batch::{BatchError, BatchService};
use domain::batch::{self, ItemOutcome, ItemResult};
use futures::TryStreamExt;
use projections::batches::{BatchFilter, BatchesQuery, PageRequest, QueryError};
use uuid::Uuid;

use super::MAX_LIMIT;
use crate::auth::{self, RequireRole, Role};
use crate::error::{ApiError, LIMIT_TOO_LARGE};
use crate::graphql::declaration_list::{PageInfo, list_scope};
use crate::graphql::declarations::{Lane, Status};
use crate::graphql::log::to_int;
use crate::graphql::scalars::Decimal;

/// Who may read batches: not integrators.
const BATCH_READERS: &[Role] = &[Role::Declarant, Role::Officer, Role::Auditor, Role::Admin];

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum BatchStatus {
    /// Received, no item recorded yet.
    Received,
    /// Items are being filed.
    Processing,
    /// Every item of the upload has its result.
    Completed,
    /// The upload stopped before its end; sending the same batch again resumes it.
    Interrupted,
}

impl From<BatchStatus> for batch::BatchStatus {
    fn from(status: BatchStatus) -> Self {
        match status {
            BatchStatus::Received => Self::Received,
            BatchStatus::Processing => Self::Processing,
            BatchStatus::Completed => Self::Completed,
            BatchStatus::Interrupted => Self::Interrupted,
        }
    }
}

/// The input format of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::batch::BatchFormat")]
pub enum BatchFormat {
    /// One declaration per line (`application/x-ndjson`).
    Ndjson,
    /// The KCS import declaration columns, one row per item (`text/csv`).
    KcsCsv,
}

/// A batch transmission: who sent it, where it stands, and the result of every item.
#[derive(Debug, SimpleObject)]
#[graphql(complex)]
pub struct Batch {
    /// The batch id (the sender's `Idempotency-Key`, or one the server chose).
    pub id: Uuid,
    pub status: BatchStatus,
    pub format: BatchFormat,
    /// The actor that sent it, e.g. `declarant/alice@ACME`.
    pub submitted_by: String,
    /// The organisation it files for; null for an admin's historical load.
    pub organisation: Option<String>,
    /// The announced body size in bytes, when the sender gave one (a string of digits: it may
    /// exceed an Int).
    pub content_length: Option<Decimal>,
    pub received_at: DateTime<Utc>,
    /// When its latest event happened.
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Items with a result so far (accepted + rejected).
    pub items: i32,
    pub accepted: i32,
    pub rejected: i32,
    /// Items answered from an earlier transmission (counted in accepted or rejected too).
    pub replayed: i32,
    /// Why the latest upload stopped early, while the batch stands interrupted.
    pub interruption: Option<String>,
}

impl TryFrom<&batch::Batch> for Batch {
    type Error = ApiError;

    fn try_from(batch: &batch::Batch) -> Result<Self, ApiError> {
        let incomplete =
            || ApiError::Internal(format!("batch {:?} has no BatchReceived", batch.id));
        let status = match batch.status {
            batch::BatchStatus::Unknown => return Err(incomplete()),
            batch::BatchStatus::Received => BatchStatus::Received,
            batch::BatchStatus::Processing => BatchStatus::Processing,
            batch::BatchStatus::Completed => BatchStatus::Completed,
            batch::BatchStatus::Interrupted => BatchStatus::Interrupted,
        };
        let (Some(id), Some(format), Some(received_at), Some(updated_at)) =
            (batch.id, batch.format, batch.received_at, batch.updated_at)
        else {
            return Err(incomplete());
        };
        Ok(Self {
            id,
            status,
            format: format.into(),
            submitted_by: batch.submitted_by.clone(),
            organisation: batch.organisation.clone(),
            content_length: batch.content_length.map(|n| Decimal(n.into())),
            received_at,
            updated_at,
            completed_at: batch.completed_at,
            items: to_int(batch.totals.items, "items")?,
            accepted: to_int(batch.totals.accepted, "accepted")?,
            rejected: to_int(batch.totals.rejected, "rejected")?,
            replayed: to_int(batch.totals.replayed, "replayed")?,
            interruption: batch.interruption.clone(),
        })
    }
}

#[ComplexObject]
impl Batch {
    /// The result of each item, in item order: `first` (1-1000) results after item number
    /// `after`. A page shorter than `first` is the last; continue with the last `item` as
    /// `after`.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn results(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false, desc = "Only the rejected items.")] rejected_only: bool,
        #[graphql(default = 100, desc = "At most 1000.")] first: i32,
        #[graphql(desc = "An item number: results of the items after it.")] after: Option<i32>,
    ) -> Result<Vec<BatchItemResult>, ApiError> {
        if first > MAX_LIMIT {
            return Err(ApiError::InvalidArgument {
                code: LIMIT_TOO_LARGE,
                field: "first",
                message: format!("first must be at most {MAX_LIMIT}"),
            });
        }
        let first = usize::try_from(first)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::invalid_argument("first", "must be at least 1"))?;
        let after = match after {
            None => 0,
            Some(n) => u64::try_from(n)
                .map_err(|_| ApiError::invalid_argument("after", "must not be negative"))?,
        };
        let service = service(ctx)?;
        let mut chunks = std::pin::pin!(service.results(self.id));
        let mut page = Vec::new();
        // Chunks hold consecutive items in order: those wholly before `after` are passed over.
        while page.len() < first {
            let Some(chunk) = chunks.try_next().await.map_err(batch_error)? else {
                break;
            };
            let wanted = chunk.into_iter().filter(|r| {
                r.item > after
                    && !(rejected_only && matches!(r.outcome, ItemOutcome::Accepted { .. }))
            });
            for result in wanted.take(first - page.len()) {
                page.push(BatchItemResult::try_from(result)?);
            }
        }
        Ok(page)
    }
}

/// Accepted for processing (filed) or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum BatchItemOutcome {
    /// Filed: see its declaration, lane and taxes.
    Accepted,
    /// Not filed, or filed and rejected by validation: `errors` says why.
    Rejected,
}

/// Why an item was rejected.
#[derive(Debug, SimpleObject)]
pub struct BatchItemError {
    /// A stable code, e.g. `MALFORMED_LINE`, `INVALID_HS_CODE`.
    pub code: String,
    /// The field concerned, a camelCase path such as `items[3].hsCode`; null for a line that
    /// could not be read.
    pub field: Option<String>,
    pub message: String,
}

/// The result given for one item of a batch.
#[derive(Debug, SimpleObject)]
pub struct BatchItemResult {
    /// The item's ordinal in the batch, from 1.
    pub item: i32,
    /// The line of the upload where the item starts, from 1 (a CSV header is line 1).
    pub line: i32,
    pub lrn: Option<String>,
    pub declarant: Option<String>,
    pub outcome: BatchItemOutcome,
    /// The declaration filed; for a rejected item, when it had a readable declarant and LRN.
    pub declaration_id: Option<Uuid>,
    /// The declaration's status after filing (accepted items).
    pub status: Option<Status>,
    pub lane: Option<Lane>,
    /// Duty + VAT assessed, in the national currency (accepted items).
    pub taxes: Option<Decimal>,
    /// Why the item was rejected (empty when accepted).
    pub errors: Vec<BatchItemError>,
    /// True when the declaration was already filed with this content: the original result.
    pub replayed: bool,
}

impl TryFrom<ItemResult> for BatchItemResult {
    type Error = ApiError;

    fn try_from(result: ItemResult) -> Result<Self, ApiError> {
        let mut answer = Self {
            item: to_int(result.item, "item")?,
            line: to_int(result.line, "line")?,
            lrn: result.lrn,
            declarant: result.declarant,
            outcome: BatchItemOutcome::Rejected,
            declaration_id: None,
            status: None,
            lane: None,
            taxes: None,
            errors: Vec::new(),
            replayed: result.replayed,
        };
        match result.outcome {
            ItemOutcome::Accepted {
                declaration_id,
                status,
                lane,
                taxes,
            } => {
                answer.outcome = BatchItemOutcome::Accepted;
                answer.declaration_id = Some(declaration_id);
                answer.status = Some(status.into());
                answer.lane = lane.map(Lane::from);
                answer.taxes = taxes.map(Decimal);
            }
            ItemOutcome::Rejected {
                declaration_id,
                errors,
            } => {
                answer.declaration_id = declaration_id;
                answer.errors = errors
                    .into_iter()
                    .map(|e| BatchItemError {
                        code: e.code,
                        field: e.field,
                        message: e.message,
                    })
                    .collect();
            }
        }
        Ok(answer)
    }
}

/// One page of batches.
#[derive(Debug, SimpleObject)]
pub struct BatchConnection {
    pub edges: Vec<BatchEdge>,
    pub page_info: PageInfo,
}

#[derive(Debug, SimpleObject)]
pub struct BatchEdge {
    /// Pass as `after` to continue after this batch.
    pub cursor: String,
    pub node: Batch,
}

/// The batch fields of the root query.
#[derive(Debug, Default)]
pub struct BatchQuery;

#[Object]
impl BatchQuery {
    /// A batch, read from its stream (current the moment its upload is answered); null when
    /// there is none the caller may see. Not integrators.
    #[graphql(guard = "RequireRole(BATCH_READERS)")]
    async fn batch(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Batch>, ApiError> {
        let caller = auth::principal(ctx)?.caller();
        match service(ctx)?.get(&caller, id).await {
            Ok(batch) => Ok(Some(Batch::try_from(&batch)?)),
            Err(BatchError::NotFound(_)) => Ok(None),
            Err(error) => Err(batch_error(error)),
        }
    }

    /// Batches, newest first, `first` (1-100) at a time after the cursor `after`: a
    /// declarant's own organisation's, or every batch for officers, auditors and admins. Read
    /// from a projection of the log: a batch sent a moment ago may take a moment to appear.
    /// Not integrators.
    #[graphql(
        guard = "RequireRole(BATCH_READERS)",
        complexity = "page_cost(first, child_complexity)"
    )]
    async fn batches(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<BatchStatus>,
    ) -> Result<BatchConnection, ApiError> {
        let principal = auth::principal(ctx)?;
        let scope = list_scope(principal)?;
        let query = ctx
            .data::<BatchesQuery>()
            .map_err(|_| ApiError::Internal("the batches read model is not configured".into()))?;
        let filter = BatchFilter {
            status: status.map(Into::into),
        };
        let page = PageRequest {
            first: u32::try_from(first).unwrap_or(0),
            after,
        };
        let page = query
            .list(&scope, &filter, &page)
            .await
            .map_err(|e| match e {
                QueryError::InvalidPageSize(_) => {
                    ApiError::invalid_argument("first", e.to_string())
                }
                QueryError::InvalidCursor => ApiError::invalid_argument("after", e.to_string()),
                other => ApiError::Internal(other.to_string()),
            })?;
        let edges = page
            .rows
            .iter()
            .map(|row| {
                Ok(BatchEdge {
                    cursor: row.cursor(),
                    node: Batch::try_from(&row.batch())?,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(BatchConnection {
            edges,
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            },
        })
    }
}

fn service<'a>(ctx: &Context<'a>) -> Result<&'a BatchService, ApiError> {
    ctx.data::<BatchService>()
        .map_err(|_| ApiError::Internal("the schema has no batch service".into()))
}

/// A failure reading a batch the caller may see: the store's, or ours.
fn batch_error(error: BatchError) -> ApiError {
    match error {
        BatchError::Store(source) => ApiError::from(source),
        other => ApiError::Internal(other.to_string()),
    }
}

/// The cost of a list of up to `first` items, each costing `child` (used by complexity limits).
fn page_cost(first: i32, child: usize) -> usize {
    usize::try_from(first.clamp(1, MAX_LIMIT)).unwrap_or(1) * child + 1
}
