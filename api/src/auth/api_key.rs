//! API keys for machine clients: `X-API-Key: ak_<key-id>_<secret>`.
//!
//! A key names a principal (subject, role, organisation, an integrator's grants) like a bearer
//! token does, but it does not expire: it works until it is revoked. `aduana apikey issue` ([`issue`]) makes one and
//! appends `ApiKeyIssued` to the stream `apikey-<key-id>`; `aduana apikey revoke` ([`revoke`])
//! appends `ApiKeyRevoked` to the same stream. The store keeps only the SHA-256 of the secret
//! (as hex), never the secret itself, and the secret is printed once and never logged.
//!
//! - The key id is a UUIDv7 in its simple form (32 lowercase hex digits); the secret is 32
//!   random bytes from the operating system's generator, in unpadded base64url (43
//!   characters). The hash is taken over the secret's text, the 43 characters.
//! - The server holds every key in an [`ApiKeys`] map, loaded from the `apikey` category at
//!   start-up ([`ApiKeys::load`]) and kept current by [`following`], so a key revoked by the
//!   command line (or another server on the same database) stops working as soon as the
//!   revocation commits and reaches the follower.
//! - A presented secret is hashed and compared with the stored hash in constant time (see
//!   [`same_digest`]). Which key ids exist is not a secret (the id is the public half of the
//!   key), so an unknown id may be refused faster than a wrong secret.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use eventstore::{
    EventMetadata, EventStore, ExpectedVersion, Filter, NewEvent, RecordedEvent, StoreError,
    StreamId,
};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Category, Principal, PrincipalError, Role};

/// The request header that carries an API key.
pub const HEADER: &str = "x-api-key";
/// The stream category of API keys: one stream `apikey-<key-id>` per key.
pub const CATEGORY: &str = "apikey";
/// The event that creates a key.
pub const ISSUED: &str = "ApiKeyIssued";
/// The event that ends a key.
pub const REVOKED: &str = "ApiKeyRevoked";
/// The actor recorded on key events appended from the command line.
pub const CLI_ACTOR: &str = "admin/cli";
/// Every key starts with this.
pub const PREFIX: &str = "ak_";
/// Random bytes in a secret.
pub const SECRET_BYTES: usize = 32;

/// The expiry given to an API key's principal: keys do not expire, they are revoked.
/// (9999-12-31T23:59:59Z: far enough, and still a valid RFC 3339 date wherever it is shown.)
pub fn never_expires() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Why a key could not be issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    #[error("{0:?} is not an API key id (32 hex digits, as printed after `ak_`)")]
    InvalidKeyId(String),
    #[error("there is no API key {0}")]
    UnknownKey(String),
    #[error("the API key {0} is already revoked")]
    AlreadyRevoked(String),
    #[error("the operating system's random generator failed: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `ApiKeyIssued`: a key was made for a principal. Only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyIssued {
    pub key_id: String,
    /// Hex SHA-256 of the secret's text.
    pub secret_hash: String,
    pub subject: String,
    pub role: Role,
    pub organisation: Option<String>,
    /// The stream categories an integrator's key may read. Added after the first keys were
    /// issued: a payload without it decodes as no grants (deny by default).
    #[serde(default)]
    pub grants: Vec<Category>,
    pub issued_at: DateTime<Utc>,
}

/// `ApiKeyRevoked`: the key no longer authenticates anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRevoked {
    pub key_id: String,
    pub revoked_at: DateTime<Utc>,
}

/// A key just issued: the whole key (shown once) and its id.
pub struct IssuedKey {
    pub key_id: String,
    /// `ak_<key-id>_<secret>`: give it to the client; it cannot be shown again.
    pub key: String,
    pub principal: Principal,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key_id", &self.key_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Makes a key for `subject` with `role` (and `organisation`, required for declarants; `grants`,
/// for integrators only) and records it as issued at `now`. The secret is returned, never
/// stored.
pub async fn issue(
    store: &EventStore,
    subject: &str,
    role: Role,
    organisation: Option<String>,
    grants: Vec<Category>,
    now: DateTime<Utc>,
) -> Result<IssuedKey, ApiKeyError> {
    let principal =
        Principal::new(subject, role, organisation, never_expires())?.with_grants(grants)?;
    let key_id = Uuid::now_v7().simple().to_string();
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(ApiKeyError::Random)?;
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let event = ApiKeyIssued {
        key_id: key_id.clone(),
        secret_hash: hex::encode(digest(&secret)),
        subject: principal.subject().to_owned(),
        role,
        organisation: principal.organisation().map(str::to_owned),
        grants: principal.grants().to_vec(),
        issued_at: now,
    };
    append(store, &key_id, ExpectedVersion::NoStream, ISSUED, &event).await?;
    tracing::info!(key_id = %key_id, actor = %principal.actor(), "api key issued");
    Ok(IssuedKey {
        key: format!("{PREFIX}{key_id}_{secret}"),
        key_id,
        principal,
    })
}

/// Records that the key `key_id` is revoked at `now`. A key is revoked once: an unknown key and
/// a key already revoked are errors.
pub async fn revoke(
    store: &EventStore,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiKeyError> {
    let key_id = key_id.trim();
    if !is_key_id(key_id) {
        return Err(ApiKeyError::InvalidKeyId(key_id.to_owned()));
    }
    let event = ApiKeyRevoked {
        key_id: key_id.to_owned(),
        revoked_at: now,
    };
    match append(store, key_id, ExpectedVersion::Exact(1), REVOKED, &event).await {
        Ok(()) => {
            tracing::info!(key_id = %key_id, "api key revoked");
            Ok(())
        }
        Err(StoreError::WrongExpectedVersion { actual: 0, .. }) => {
            Err(ApiKeyError::UnknownKey(key_id.to_owned()))
        }
        Err(StoreError::WrongExpectedVersion { .. }) => {
            Err(ApiKeyError::AlreadyRevoked(key_id.to_owned()))
        }
        Err(error) => Err(error.into()),
    }
}

async fn append(
    store: &EventStore,
    key_id: &str,
    expected: ExpectedVersion,
    event_type: &str,
    payload: &impl Serialize,
) -> Result<(), StoreError> {
    let stream = StreamId::parse(format!("{CATEGORY}-{key_id}"))?;
    let payload = serde_json::to_value(payload)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode {event_type}: {error}")))?;
    let event = NewEvent::new(event_type, payload).with_metadata(EventMetadata {
        correlation_id: None,
        causation_id: None,
        actor: Some(CLI_ACTOR.to_owned()),
    });
    store.append(&stream, expected, vec![event]).await?;
    Ok(())
}

/// Why a presented key is refused (all are answered alike: 401 `INVALID_API_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyRefusal {
    #[error("the key is not of the form ak_<key-id>_<secret>")]
    Malformed,
    #[error("no such key")]
    Unknown,
    #[error("the secret does not match")]
    WrongSecret,
    #[error("the key is revoked")]
    Revoked,
}

struct Entry {
    secret_hash: [u8; 32],
    principal: Principal,
    revoked: bool,
}

/// Every API key the server knows: key id → hash of the secret, principal, revoked. Cheap to
/// clone; clones share the map. `Debug` shows only the number of keys.
#[derive(Clone, Default)]
pub struct ApiKeys(Arc<RwLock<HashMap<String, Entry>>>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.read().len())
    }
}

impl ApiKeys {
    /// Reads every key event committed up to the store's head; returns that position, from
    /// which [`following`] goes on.
    pub async fn load(&self, store: &EventStore) -> Result<u64, StoreError> {
        let head = store.head_position().await?;
        let mut events =
            std::pin::pin!(store.read_all(0, Filter::categories([CATEGORY]), usize::MAX));
        while let Some(event) = events.try_next().await? {
            if event.position > head {
                break;
            }
            self.apply(&event);
        }
        tracing::info!(api_keys = self.read().len(), "api keys loaded");
        Ok(head)
    }

    /// The principal of `key`, if it names a known key with the right secret, not revoked.
    pub fn authenticate(&self, key: &str) -> Result<Principal, ApiKeyRefusal> {
        let (key_id, secret) = parse(key).ok_or(ApiKeyRefusal::Malformed)?;
        let presented = digest(secret);
        let keys = self.read();
        let entry = keys.get(key_id).ok_or(ApiKeyRefusal::Unknown)?;
        if !same_digest(&presented, &entry.secret_hash) {
            return Err(ApiKeyRefusal::WrongSecret);
        }
        if entry.revoked {
            return Err(ApiKeyRefusal::Revoked);
        }
        Ok(entry.principal.clone())
    }

    /// Applies one event of the `apikey` category. Applying an event twice changes nothing; an
    /// event that does not decode is logged and skipped (it authenticates no one).
    pub fn apply(&self, event: &RecordedEvent) {
        match event.event_type.as_str() {
            ISSUED => match issued_entry(event) {
                Ok((key_id, entry)) => {
                    self.write().entry(key_id).or_insert(entry);
                }
                Err(reason) => {
                    tracing::warn!(position = event.position, %reason, "api key event skipped");
                }
            },
            REVOKED => match event.payload_as::<ApiKeyRevoked>() {
                Ok(revoked) => {
                    if let Some(entry) = self.write().get_mut(&revoked.key_id) {
                        entry.revoked = true;
                    }
                }
                Err(error) => {
                    tracing::warn!(position = event.position, %error, "api key event skipped");
                }
            },
            _ => {}
        }
    }

    // A panic while the lock is held leaves the map as it was before or after one insert or
    // one flag change, both consistent: a poisoned lock is used as it is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn issued_entry(event: &RecordedEvent) -> Result<(String, Entry), String> {
    let issued: ApiKeyIssued = event.payload_as().map_err(|error| error.to_string())?;
    let mut secret_hash = [0u8; 32];
    hex::decode_to_slice(&issued.secret_hash, &mut secret_hash)
        .map_err(|error| format!("secretHash: {error}"))?;
    let principal = Principal::new(
        issued.subject,
        issued.role,
        issued.organisation,
        never_expires(),
    )
    .and_then(|principal| principal.with_grants(issued.grants))
    .map_err(|error| error.to_string())?;
    Ok((
        issued.key_id,
        Entry {
            secret_hash,
            principal,
            revoked: false,
        },
    ))
}

/// Longest pause before following the log again after a failure.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Keeps `keys` current: applies every key event committed after position `after` (the
/// position [`ApiKeys::load`] returned), as it commits. After a failure it waits (200 ms,
/// doubling up to 30 s) and follows again from where it was; it ends when the store is closed.
pub async fn following(store: EventStore, keys: ApiKeys, after: u64) {
    let mut after = after;
    let mut delay = Duration::from_millis(200);
    loop {
        let from = after;
        let result = follow_from(&store, &keys, &mut after).await;
        if after > from {
            delay = Duration::from_millis(200);
        }
        match result {
            Ok(()) | Err(StoreError::Closed) => {
                tracing::debug!("api key follower stopped: the store is closed");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, code = error.code(), retry_in_ms = delay.as_millis() as u64, "api key follower failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

async fn follow_from(
    store: &EventStore,
    keys: &ApiKeys,
    after: &mut u64,
) -> Result<(), StoreError> {
    let mut events = std::pin::pin!(store.subscribe_all(*after, Filter::categories([CATEGORY])));
    while let Some(event) = events.try_next().await? {
        keys.apply(&event);
        *after = event.position;
    }
    Ok(())
}

/// `ak_<32 lowercase hex digits>_<43 base64url characters that decode to 32 bytes>` → (key id,
/// secret text).
fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.trim().strip_prefix(PREFIX)?;
    let (key_id, secret) = (rest.get(..32)?, rest.get(32..)?.strip_prefix('_')?);
    if !is_key_id(key_id) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(secret).ok()?;
    (bytes.len() == SECRET_BYTES).then_some((key_id, secret))
}

fn is_key_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether two digests are equal, in time that does not depend on where they differ: every
/// byte pair is XORed and the differences ORed together, with no early exit, and the one
/// comparison is made on the folded byte. (`std::hint::black_box` keeps the optimiser from
/// turning the fold back into a short-circuiting compare.)
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ID: &str = "0190f3a2b4c57d8e9f00112233445566";

    fn secret() -> String {
        URL_SAFE_NO_PAD.encode([7u8; SECRET_BYTES])
    }

    #[test]
    fn a_key_is_the_prefix_the_id_and_the_secret() {
        let key = format!("ak_{ID}_{}", secret());
        assert_eq!(parse(&key), Some((ID, secret().as_str())));
    }

    #[test]
    fn a_secret_may_hold_underscores_and_dashes() {
        let secret = URL_SAFE_NO_PAD.encode([0xFFu8; SECRET_BYTES]);
        assert!(secret.contains('_'));
        let key = format!("ak_{ID}_{secret}");
        assert_eq!(parse(&key), Some((ID, secret.as_str())));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let secret = secret();
        for key in [
            String::new(),
            "ak_".into(),
            format!("{ID}_{secret}"),
            format!("ak_{}_{secret}", ID.to_uppercase()),
            format!("ak_{}_{secret}", &ID[1..]),
            format!("ak_{ID}{secret}"),
            format!("ak_{ID}_{}", &secret[1..]),
            format!("ak_{ID}_{secret}A"),
            format!("ak_{ID}_{}", URL_SAFE_NO_PAD.encode([1u8; 16])),
            format!("ak_{ID}_{}+", &secret[..42]),
        ] {
            assert_eq!(parse(&key), None, "{key:?}");
        }
    }

    #[test]
    fn digests_are_compared_whole() {
        let a = digest("one");
        let mut b = a;
        assert!(same_digest(&a, &b));
        b[31] ^= 1;
        assert!(!same_digest(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!same_digest(&a, &b));
    }

    #[test]
    fn a_principal_of_a_key_never_expires() {
        assert_eq!(never_expires().to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }

    fn issued_event(payload: serde_json::Value) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::nil(),
            stream_id: format!("{CATEGORY}-{ID}"),
            stream_version: 1,
            position: 1,
            event_type: ISSUED.into(),
            schema_version: 1,
            payload: payload.to_string(),
            metadata: EventMetadata::default(),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            hash: [0; 32],
        }
    }

    fn key_payload(role: &str) -> serde_json::Value {
        serde_json::json!({
            "keyId": ID,
            "secretHash": hex::encode(digest(&secret())),
            "subject": "bank",
            "role": role,
            "organisation": null,
            "issuedAt": "2025-01-01T00:00:00Z",
        })
    }

    #[test]
    fn a_key_issued_before_grants_existed_still_decodes_with_no_grants() {
        let keys = ApiKeys::default();
        keys.apply(&issued_event(key_payload("integrator")));
        let principal = keys.authenticate(&format!("ak_{ID}_{}", secret())).unwrap();
        assert_eq!(principal.role(), Role::Integrator);
        assert!(principal.grants().is_empty());
    }

    #[test]
    fn a_key_carries_its_grants() {
        let keys = ApiKeys::default();
        let mut payload = key_payload("integrator");
        payload["grants"] = serde_json::json!(["batch", "declaration"]);
        keys.apply(&issued_event(payload));
        let principal = keys.authenticate(&format!("ak_{ID}_{}", secret())).unwrap();
        assert_eq!(principal.grants(), [Category::Declaration, Category::Batch]);
    }

    #[test]
    fn a_key_whose_grants_cannot_hold_authenticates_no_one() {
        for (role, grants) in [
            ("officer", serde_json::json!(["declaration"])),
            ("integrator", serde_json::json!(["apikey"])),
        ] {
            let keys = ApiKeys::default();
            let mut payload = key_payload(role);
            payload["grants"] = grants;
            keys.apply(&issued_event(payload));
            assert_eq!(
                keys.authenticate(&format!("ak_{ID}_{}", secret())),
                Err(ApiKeyRefusal::Unknown),
                "{role}"
            );
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let principal = Principal::new("bot", Role::Integrator, None, never_expires()).unwrap();
        let issued = IssuedKey {
            key_id: ID.into(),
            key: format!("ak_{ID}_{}", secret()),
            principal,
        };
        assert!(!format!("{issued:?}").contains(&secret()));
    }
}
