//! Bearer tokens: JWTs signed with HMAC-SHA256 (HS256) by this server's [`SigningKey`].
//!
//! HS256 because the server is the only party that mints tokens and the only one that checks
//! them (`aduana token issue` signs with the same key file or `ADUANA_SIGNING_KEY`): one
//! secret of 32 random bytes is all it needs, with no key-pair format to store. Should another
//! service ever verify tokens without being able to mint them, EdDSA (a public key to hand out)
//! is the switch, behind this same interface.
//!
//! Claims: `sub` (subject), `role`, `org` (organisation; required for declarants), `grants` (an
//! integrator's stream categories, left out when there are none), `exp`, `iat` (seconds since
//! the epoch) and `jti` (a random UUID, to name one token in logs or a future revocation list).
//! Verification accepts HS256 only (never `none`), with no leeway on `exp`; a token with grants
//! for another role than integrator, or with a category that is not grantable, is refused.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Category, Principal, Role, SigningKey};

/// Why a token is refused (or could not be made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a bearer JWT")]
    Malformed,
    #[error("the token's signature does not match this server's key")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's claims are not valid: {0}")]
    InvalidClaims(String),
    #[error("the token could not be signed: {0}")]
    Signing(String),
}

/// What a token says, as JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    grants: Vec<Category>,
    exp: i64,
    iat: i64,
    jti: Uuid,
}

/// Signs and verifies tokens with one key. Cheap to clone; `Debug` shows no key material.
#[derive(Clone)]
pub struct TokenKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys { algorithm: HS256, .. }")
    }
}

impl TokenKeys {
    pub fn new(key: &SigningKey) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(key.expose()),
            decoding: DecodingKey::from_secret(key.expose()),
            validation,
        }))
    }

    /// A token for `principal`, valid until its `expires_at`.
    pub fn issue(
        &self,
        principal: &Principal,
        issued_at: DateTime<Utc>,
        token_id: Uuid,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: principal.subject().to_owned(),
            role: principal.role(),
            org: principal.organisation().map(str::to_owned),
            grants: principal.grants().to_vec(),
            exp: principal.expires_at().timestamp(),
            iat: issued_at.timestamp(),
            jti: token_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(|error| TokenError::Signing(error.to_string()))
    }

    /// The principal a token names, if this server signed it and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    TokenError::BadSignature
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    TokenError::InvalidClaims(format!("missing {claim}"))
                }
                ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
                    TokenError::InvalidClaims(error.to_string())
                }
                _ => TokenError::Malformed,
            })?;
        let claims = data.claims;
        let expires_at = DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| TokenError::InvalidClaims("exp out of range".into()))?;
        Principal::new(claims.sub, claims.role, claims.org, expires_at)
            .and_then(|principal| principal.with_grants(claims.grants))
            .map_err(|error| TokenError::InvalidClaims(error.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::Duration;

    use super::*;

    fn keys(byte: u8) -> TokenKeys {
        TokenKeys::new(&SigningKey::from_bytes(vec![byte; 32]).unwrap())
    }

    fn officer(expires_at: DateTime<Utc>) -> Principal {
        Principal::new("bob", Role::Officer, None, expires_at).unwrap()
    }

    #[test]
    fn a_token_names_its_principal() {
        let keys = keys(1);
        let expires_at = DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap();
        let alice =
            Principal::new("alice", Role::Declarant, Some("ACME".into()), expires_at).unwrap();
        let token = keys.issue(&alice, Utc::now(), Uuid::new_v4()).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), alice);
    }

    #[test]
    fn the_claims_are_sub_role_org_exp_iat_and_jti() {
        let keys = keys(1);
        let expires_at = DateTime::from_timestamp(4_000_000_000, 0).unwrap();
        let issued_at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let id = Uuid::new_v4();
        let token = keys.issue(&officer(expires_at), issued_at, id).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "sub": "bob", "role": "officer", "exp": 4_000_000_000_i64,
                "iat": 1_700_000_000, "jti": id.to_string(),
            })
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = keys(1);
        let past = Utc::now() - Duration::seconds(5);
        let token = keys
            .issue(&officer(past), past - Duration::hours(1), Uuid::new_v4())
            .unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let later = Utc::now() + Duration::hours(1);
        let token = keys(2)
            .issue(&officer(later), Utc::now(), Uuid::new_v4())
            .unwrap();
        assert_eq!(keys(1).verify(&token), Err(TokenError::BadSignature));
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            r#"{"sub":"eve","role":"admin","exp":4000000000,"iat":1,"jti":"00000000-0000-0000-0000-000000000000"}"#,
        );
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            assert!(keys(1).verify(&token).is_err(), "{token}");
        }
        assert_eq!(keys(1).verify("not a token"), Err(TokenError::Malformed));
    }

    #[test]
    fn a_declarant_token_without_an_organisation_is_refused() {
        let keys = keys(1);
        let claims = serde_json::json!({
            "sub": "alice", "role": "declarant", "exp": 4_000_000_000_i64, "iat": 1,
            "jti": Uuid::new_v4(),
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap();
        assert!(matches!(
            keys.verify(&token),
            Err(TokenError::InvalidClaims(_))
        ));
    }

    fn signed(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&[1; 32]),
        )
        .unwrap()
    }

    #[test]
    fn an_integrator_token_carries_its_grants() {
        let keys = keys(1);
        let expires_at = DateTime::from_timestamp(4_000_000_000, 0).unwrap();
        let bot = Principal::new("bot", Role::Integrator, None, expires_at)
            .unwrap()
            .with_grants(vec![Category::Declaration, Category::Batch])
            .unwrap();
        let token = keys.issue(&bot, Utc::now(), Uuid::new_v4()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims["grants"],
            serde_json::json!(["declaration", "batch"])
        );
        assert_eq!(keys.verify(&token).unwrap(), bot);
    }

    #[test]
    fn grants_for_another_role_or_of_another_category_are_refused() {
        let keys = keys(1);
        for (role, grants) in [
            ("officer", serde_json::json!(["declaration"])),
            ("integrator", serde_json::json!(["apikey"])),
            ("integrator", serde_json::json!(["nonsense"])),
            ("integrator", serde_json::json!("declaration")),
        ] {
            let token = signed(&serde_json::json!({
                "sub": "bot", "role": role, "grants": grants, "exp": 4_000_000_000_i64,
                "iat": 1, "jti": Uuid::new_v4(),
            }));
            assert!(
                matches!(keys.verify(&token), Err(TokenError::InvalidClaims(_))),
                "{role} {grants}"
            );
        }
    }

    #[test]
    fn the_keys_are_not_shown_by_debug() {
        assert_eq!(
            format!("{:?}", keys(7)),
            "TokenKeys { algorithm: HS256, .. }"
        );
    }
}
