//! Event streams for integrators: GraphQL subscriptions (over WebSocket, see [`super::ws`]).
//! Each event comes with its position (or stream version), so a client that reconnects
//! resumes exactly after the last one it received: catch-up from there, then live. Who sees
//! which events is [`crate::log_access`]'s rule, the same as for the `events` query and the
//! HTTP feed.

use async_graphql::{Context, Subscription};
use commands::declaration::DeclarationService;
use eventstore::EventStore;
use futures::{Stream, StreamExt, TryStreamExt};
use uuid::Uuid;

use super::log::{Event, Position};
use crate::auth;
use crate::error::ApiError;
use crate::log_access::LogReader;

/// Every field of the root subscription.
#[derive(Debug, Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The global log after a position, then every new event as it commits, in position
    /// order, each exactly once; optionally only some categories and event types. Officers,
    /// auditors and admins read every category; integrators the categories granted to them
    /// (naming another is FORBIDDEN); declarants their organisation's declaration and batch
    /// streams. Resume after a disconnection with `after` set to the last position received.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "Events after this position (0: from the start).")]
        after: Position,
        #[graphql(desc = "Stream categories (the part of the id before the first `-`).")]
        categories: Option<Vec<String>>,
        #[graphql(desc = "Event types, e.g. `DeclarationFiled`.")] types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>> + use<>> {
        let principal = auth::principal(ctx)?;
        let store = ctx.data::<EventStore>()?;
        // Refused here, before the first event: the client learns at once what it may not read.
        let reader = LogReader::new(
            store.clone(),
            principal,
            categories.unwrap_or_default(),
            types.unwrap_or_default(),
        )
        .map_err(ApiError::from)?;
        Ok(reader
            .follow(after.0)
            .map_ok(Event)
            .map_err(|e| ApiError::from(e).into()))
    }

    /// One declaration's events after a stream version, then each new one: what happens to
    /// it, live. Visible as `declaration(id)` is (a declarant: its own organisation's).
    async fn declaration_events(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(
            default,
            desc = "Events after this stream version (0: from the first)."
        )]
        after_version: u32,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>> + use<>> {
        let caller = auth::principal(ctx)?.caller();
        let service = ctx.data::<DeclarationService>()?;
        // Reading it through the service applies the visibility rule of `declaration(id)`.
        service.get(&caller, id).await.map_err(ApiError::from)?;
        let store = ctx.data::<EventStore>()?;
        let stream = commands::declaration::stream(id);
        Ok(store
            .subscribe_stream(&stream, u64::from(after_version))
            .map(|event| event.map(Event).map_err(|e| ApiError::from(e).into())))
    }
}
