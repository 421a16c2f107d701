//! What every domain event offers the event store: a stable type string, a schema version and
//! a JSON payload, and the way back from stored rows to typed events (where upcasters live).

/// An event that can be stored: `event_type` and `schema_version` are a stored contract,
/// independent of Rust names; the payload is the variant's data in camelCase JSON with every
/// decimal as a string.
pub trait DomainEvent: Sized {
    /// The stable type string, e.g. `DeclarationFiled`.
    fn event_type(&self) -> &'static str;

    /// The payload's schema version (every event is at version 1 today).
    fn schema_version(&self) -> u32;

    /// The payload as JSON.
    fn payload(&self) -> Result<serde_json::Value, serde_json::Error>;

    /// Reads a stored event back. Older schema versions are upcast here; an unknown type or
    /// version is an error, never a guess.
    fn decode(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError>;
}

/// A stored event could not be read as a domain event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event type {event_type} has no schema version {version}")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("payload of {event_type} does not match its schema: {source}")]
    Payload {
        event_type: String,
        source: serde_json::Error,
    },
}

/// Implements [`DomainEvent`] for an enum whose variants each wrap one payload struct:
/// `domain_event!(Enum { Variant(Payload) = "TypeString", … })`. Every type is at version 1;
/// when a payload changes, bump its version here and add the upcaster in `decode`.
macro_rules! domain_event {
    ($enum:ident { $($variant:ident($payload:ty) = $name:literal),+ $(,)? }) => {
        impl $enum {
            /// Every event type string this enum reads and writes.
            pub const EVENT_TYPES: &'static [&'static str] = &[$($name),+];
        }

        impl $crate::event::DomainEvent for $enum {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name),+
                }
            }

            fn schema_version(&self) -> u32 {
                1
            }

            fn payload(&self) -> Result<::serde_json::Value, ::serde_json::Error> {
                match self {
                    $(Self::$variant(p) => ::serde_json::to_value(p)),+
                }
            }

            fn decode(
                event_type: &str,
                schema_version: u32,
                payload: &str,
            ) -> Result<Self, $crate::event::DecodeError> {
                use $crate::event::DecodeError;
                match event_type {
                    $($name => {
                        if schema_version != 1 {
                            return Err(DecodeError::UnknownVersion {
                                event_type: event_type.to_owned(),
                                version: schema_version,
                            });
                        }
                        ::serde_json::from_str::<$payload>(payload)
                            .map(Self::$variant)
                            .map_err(|source| DecodeError::Payload {
                                event_type: event_type.to_owned(),
                                source,
                            })
                    })+
                    other => Err(DecodeError::UnknownType(other.to_owned())),
                }
            }
        }
    };
}
pub(crate) use domain_event;
