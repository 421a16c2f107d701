//! Who reads which part of the event log: the one rule behind the `events` query and
//! subscription, the `stream` query, and the HTTP feed (`/api/v1/events`, `/events/stream`).
//!
//! - Officers, auditors and admins read every category.
//! - An integrator reads the categories granted to it (`--grant`, see [`crate::auth::grant`]);
//!   without grants it reads nothing. A category it names that is not granted is refused
//!   ([`LogAccessError::CategoryNotReadable`], code `FORBIDDEN`), not filtered out: a client
//!   that asked for it would otherwise wait for events that never come. Naming none reads
//!   exactly the granted ones.
//! - A declarant reads the `declaration` and `batch` streams its organisation owns, and
//!   nothing else. The owner is read from each stream's first event
//!   ([`commands::owner`]), never from a read model that may lag; a reader remembers the answer
//!   for the last [`OWNER_CACHE`] streams it met, so a stream costs at most one extra read
//!   (none when the reader meets its first event itself, as a catch-up from 0 and a live
//!   subscription do).
//!
//! Another organisation's event is never sent, nor its position: a declarant's page says how
//! far the server looked with `nextAfter`, the position of the last event scanned. That is a
//! position in the global log, which tells that the log grew, not what was appended or by whom.

use std::collections::{HashMap, VecDeque};

use eventstore::{Direction, EventStore, Filter, RecordedEvent, StoreError, StreamId};
use futures::{Stream, TryStreamExt};

use crate::auth::{Principal, Role};

/// Streams whose owner one reader remembers.
pub const OWNER_CACHE: usize = 4096;
/// Most events of the requested categories one page scans for a declarant before it answers
/// (with fewer events than asked, and `nextAfter` where it stopped): a page costs bounded work
/// however little of the log is the declarant's.
pub const MAX_SCANNED: usize = 10_000;
/// Events read at a time while scanning for a declarant.
const SCAN_CHUNK: usize = 1_000;

/// Why a principal may not read what it asked for. Both are `FORBIDDEN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogAccessError {
    #[error("these credentials may not read the category {category:?}")]
    CategoryNotReadable { category: String },
    #[error(
        "no stream category is granted to this integrator: an admin issues its key or token \
         with --grant"
    )]
    NothingGranted,
    #[error("the {0} role reads the warehouse's aggregates, not the event log")]
    NotForRole(Role),
}

impl LogAccessError {
    /// The category refused, if one was named.
    pub fn category(&self) -> Option<&str> {
        match self {
            Self::CategoryNotReadable { category } => Some(category),
            Self::NothingGranted | Self::NotForRole(_) => None,
        }
    }
}

/// The part of the log a principal reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The categories read; empty means every category (officers, auditors, admins only).
    pub categories: Vec<String>,
    /// The organisation whose streams alone are read (declarants).
    pub organisation: Option<String>,
}

/// The scope of `principal` when it asks for `requested` categories (none: all it may read).
pub fn scope(principal: &Principal, requested: Vec<String>) -> Result<Scope, LogAccessError> {
    let readable: Vec<&str> = match principal.role() {
        Role::Officer | Role::Auditor | Role::Admin => {
            return Ok(Scope {
                categories: requested,
                organisation: None,
            });
        }
        Role::Integrator => principal.grants().iter().map(|c| c.as_str()).collect(),
        Role::Declarant => commands::owner::OWNED_CATEGORIES.to_vec(),
        // Analysts read the warehouse's aggregates, never the events behind them.
        Role::Analyst => return Err(LogAccessError::NotForRole(Role::Analyst)),
    };
    if readable.is_empty() {
        return Err(LogAccessError::NothingGranted);
    }
    if let Some(category) = requested.iter().find(|c| !readable.contains(&c.as_str())) {
        return Err(LogAccessError::CategoryNotReadable {
            category: category.clone(),
        });
    }
    let categories = if requested.is_empty() {
        readable.into_iter().map(str::to_owned).collect()
    } else {
        requested
    };
    let organisation = match principal.role() {
        Role::Declarant => principal.organisation().map(str::to_owned),
        _ => None,
    };
    Ok(Scope {
        categories,
        organisation,
    })
}

/// Whether `principal` may read the stream `stream` whole (the `stream` query): officers,
/// auditors and admins any, an integrator one of a granted category, a declarant none (it reads
/// its own streams through `events` or `declarationHistory`).
pub fn check_stream(principal: &Principal, stream: &StreamId) -> Result<(), LogAccessError> {
    let granted = match principal.role() {
        Role::Officer | Role::Auditor | Role::Admin => true,
        Role::Integrator => principal
            .grants()
            .iter()
            .any(|c| c.as_str() == stream.category()),
        Role::Declarant | Role::Analyst => false,
    };
    if granted {
        Ok(())
    } else {
        Err(LogAccessError::CategoryNotReadable {
            category: stream.category().to_owned(),
        })
    }
}

/// One page of the log as a principal sees it.
#[derive(Debug)]
pub struct Page {
    /// The events, in position order.
    pub events: Vec<RecordedEvent>,
    /// Where to read on from: the position of the last event scanned, or the head when the
    /// page reached it.
    pub next_after: u64,
    /// Whether the page looked at every event committed when it was read.
    pub at_head: bool,
}

/// Reads the log within one principal's [`Scope`]: pages and live subscriptions.
#[derive(Debug, Clone)]
pub struct LogReader {
    store: EventStore,
    filter: Filter,
    owners: Option<Owners>,
}

impl LogReader {
    /// A reader for `principal` asking for `categories` and `types` (empty: no restriction
    /// beyond its scope).
    pub fn new(
        store: EventStore,
        principal: &Principal,
        categories: Vec<String>,
        types: Vec<String>,
    ) -> Result<Self, LogAccessError> {
        let scope = scope(principal, categories)?;
        Ok(Self {
            store,
            filter: Filter::categories(scope.categories).with_event_types(types),
            owners: scope.organisation.map(Owners::new),
        })
    }

    /// At most `limit` events after `after`. A declarant's page stops early after
    /// [`MAX_SCANNED`] events of its categories; its `next_after` then says where.
    pub async fn page(&mut self, after: u64, limit: usize) -> Result<Page, StoreError> {
        // Every position up to this head is committed; a short read has looked at all of them.
        let head = self.store.head_position().await?;
        let mut events = Vec::new();
        let mut cursor = after;
        let mut scanned = 0;
        while events.len() < limit {
            let want = match self.owners {
                Some(_) => SCAN_CHUNK,
                None => limit - events.len(),
            };
            let chunk: Vec<RecordedEvent> = self
                .store
                .read_all(cursor, self.filter.clone(), want)
                .try_collect()
                .await?;
            let short = chunk.len() < want;
            for event in chunk {
                cursor = event.position;
                scanned += 1;
                if self.visible(&event).await? {
                    events.push(event);
                    if events.len() == limit {
                        break;
                    }
                }
            }
            if events.len() < limit && short {
                return Ok(Page {
                    events,
                    next_after: cursor.max(head),
                    at_head: true,
                });
            }
            if scanned >= MAX_SCANNED {
                break;
            }
        }
        Ok(Page {
            events,
            next_after: cursor,
            at_head: false,
        })
    }

    /// Every event after `after` this reader may see, then each new one as it commits, in
    /// position order, each exactly once. Ends only on an error.
    pub fn follow(
        mut self,
        after: u64,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static {
        async_stream::try_stream! {
            let mut events = std::pin::pin!(self.store.subscribe_all(after, self.filter.clone()));
            while let Some(event) = events.try_next().await? {
                if self.visible(&event).await? {
                    yield event;
                }
            }
        }
    }

    async fn visible(&mut self, event: &RecordedEvent) -> Result<bool, StoreError> {
        match &mut self.owners {
            None => Ok(true),
            Some(owners) => owners.visible(&self.store, event).await,
        }
    }
}

/// A declarant's filter: which streams its organisation owns, remembered for the last
/// [`OWNER_CACHE`] streams (oldest forgotten first: forgetting costs one read, never a wrong
/// answer, since a stream's owner never changes).
#[derive(Debug, Clone)]
struct Owners {
    organisation: String,
    known: HashMap<String, bool>,
    order: VecDeque<String>,
}

impl Owners {
    fn new(organisation: String) -> Self {
        Self {
            organisation,
            known: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    async fn visible(
        &mut self,
        store: &EventStore,
        event: &RecordedEvent,
    ) -> Result<bool, StoreError> {
        if let Some(own) = self.known.get(&event.stream_id) {
            return Ok(*own);
        }
        let own = if event.stream_version == 1 {
            self.owns(event)
        } else {
            let stream = StreamId::parse(event.stream_id.clone())?;
            let first = std::pin::pin!(store.read_stream(&stream, Direction::Forward, None, 1))
                .try_next()
                .await?;
            first.is_some_and(|first| self.owns(&first))
        };
        self.remember(event.stream_id.clone(), own);
        Ok(own)
    }

    /// Whether this organisation owns the stream `first` opens. A first event that does not say
    /// is no one's: logged, and never shown.
    fn owns(&self, first: &RecordedEvent) -> bool {
        match commands::owner::owner(first) {
            Ok(owner) => owner.is(&self.organisation),
            Err(error) => {
                tracing::warn!(stream = %first.stream_id, %error, "stream owner unknown: hidden from declarants");
                false
            }
        }
    }

    fn remember(&mut self, stream: String, own: bool) {
        if self.order.len() >= OWNER_CACHE
            && let Some(oldest) = self.order.pop_front()
        {
            self.known.remove(&oldest);
        }
        self.order.push_back(stream.clone());
        self.known.insert(stream, own);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::auth::Category;

    fn later() -> DateTime<Utc> {
        DateTime::from_timestamp(4_000_000_000, 0).unwrap()
    }

    fn integrator(grants: Vec<Category>) -> Principal {
        Principal::new("bank", Role::Integrator, None, later())
            .unwrap()
            .with_grants(grants)
            .unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn officers_auditors_and_admins_read_what_they_ask_for() {
        for role in [Role::Officer, Role::Auditor, Role::Admin] {
            let principal = Principal::new("k", role, None, later()).unwrap();
            for requested in [names(&[]), names(&["apikey", "note"])] {
                assert_eq!(
                    scope(&principal, requested.clone()),
                    Ok(Scope {
                        categories: requested,
                        organisation: None
                    })
                );
            }
        }
    }

    #[test]
    fn an_integrator_reads_its_grants_and_is_refused_the_others_by_name() {
        let bank = integrator(vec![Category::Declaration, Category::Rate]);
        assert_eq!(
            scope(&bank, names(&[])).unwrap().categories,
            names(&["declaration", "rate"])
        );
        assert_eq!(
            scope(&bank, names(&["rate"])).unwrap().categories,
            names(&["rate"])
        );
        assert_eq!(
            scope(&bank, names(&["declaration", "batch"])),
            Err(LogAccessError::CategoryNotReadable {
                category: "batch".into()
            })
        );
        assert_eq!(scope(&bank, names(&[])).unwrap().organisation, None);
    }

    #[test]
    fn an_integrator_without_grants_reads_nothing() {
        let bank = integrator(Vec::new());
        assert_eq!(
            scope(&bank, names(&[])),
            Err(LogAccessError::NothingGranted)
        );
        assert_eq!(
            scope(&bank, names(&["declaration"])),
            Err(LogAccessError::NothingGranted)
        );
    }

    #[test]
    fn a_declarant_reads_its_organisations_declarations_and_batches() {
        let alice = Principal::new("alice", Role::Declarant, Some("ACME".into()), later()).unwrap();
        assert_eq!(
            scope(&alice, names(&[])),
            Ok(Scope {
                categories: names(&["declaration", "batch"]),
                organisation: Some("ACME".into())
            })
        );
        for other in ["tariff", "apikey", "riskrules"] {
            assert_eq!(
                scope(&alice, names(&["batch", other]))
                    .unwrap_err()
                    .category(),
                Some(other)
            );
        }
    }

    #[test]
    fn whole_streams_are_for_log_readers_and_integrators_granted_their_category() {
        let declaration = StreamId::parse("declaration-1").unwrap();
        let batch = StreamId::parse("batch-1").unwrap();
        let bank = integrator(vec![Category::Declaration]);
        assert_eq!(check_stream(&bank, &declaration), Ok(()));
        assert_eq!(
            check_stream(&bank, &batch).unwrap_err().category(),
            Some("batch")
        );
        let officer = Principal::new("k", Role::Officer, None, later()).unwrap();
        assert_eq!(check_stream(&officer, &batch), Ok(()));
        let alice = Principal::new("alice", Role::Declarant, Some("ACME".into()), later()).unwrap();
        assert!(check_stream(&alice, &declaration).is_err());
    }

    #[test]
    fn the_owner_cache_forgets_its_oldest_stream_first() {
        let mut owners = Owners::new("ACME".into());
        for n in 0..=OWNER_CACHE {
            owners.remember(format!("declaration-{n}"), n % 2 == 0);
        }
        assert_eq!(owners.known.len(), OWNER_CACHE);
        assert_eq!(owners.order.len(), OWNER_CACHE);
        assert!(!owners.known.contains_key("declaration-0"));
        assert_eq!(owners.known.get("declaration-2"), Some(&true));
        assert_eq!(
            owners.known.get(&format!("declaration-{OWNER_CACHE}")),
            Some(&true)
        );
    }
}
