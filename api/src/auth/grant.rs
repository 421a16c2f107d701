//! Stream categories granted to integrators: which parts of the event log a machine client of
//! another system may read (`aduana apikey issue ... --role integrator --grant declaration`).
//!
//! The set is closed: the categories the system appends that may leave it. Not grantable:
//!
//! - `apikey`: its events hold the SHA-256 of every API key's secret and who holds which key.
//!   A hash of 32 random bytes cannot be reversed, but the list of keys, their roles and
//!   organisations is the system's own access control, not business data for another system.
//! - `bench` and test streams: synthetic events of `aduana bench`, not part of the product.
//!
//! A category name is what comes before the first `-` of a stream id; names are checked in two
//! steps so that an operator's typo is told apart from a category that exists but is not given
//! out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A stream category an integrator may be granted. Stored in `ApiKeyIssued` and in the bearer
/// token's `grants` claim by its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// `declaration-<uuid>`: every organisation's declarations, filing to clearance.
    Declaration,
    /// `batch-<uuid>`: batch transmissions and their item results.
    Batch,
    /// `tariff-<code>`: tariff lines.
    Tariff,
    /// `rate-<currency>`: exchange rates.
    Rate,
    /// `units-rec20`: the unit code list.
    Units,
    /// `riskrules-main`: the risk rule sets (which goods are inspected: grant with care).
    Riskrules,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Declaration,
        Category::Batch,
        Category::Tariff,
        Category::Rate,
        Category::Units,
        Category::Riskrules,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declaration => "declaration",
            Self::Batch => "batch",
            Self::Tariff => "tariff",
            Self::Rate => "rate",
            Self::Units => "units",
            Self::Riskrules => "riskrules",
        }
    }

    /// The grantable category named `text`, or why there is none.
    pub fn parse(text: &str) -> Result<Self, GrantError> {
        let valid = text.len() <= 100
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(GrantError::InvalidName(text.to_owned()));
        }
        if let Some(category) = Self::ALL.into_iter().find(|c| c.as_str() == text) {
            return Ok(category);
        }
        match text {
            "apikey" => Err(GrantError::NeverGranted {
                category: text.to_owned(),
                reason: "its events hold API key hashes and who holds which key",
            }),
            "bench" => Err(GrantError::NeverGranted {
                category: text.to_owned(),
                reason: "its events are benchmark data, not part of the product",
            }),
            _ => Err(GrantError::Unknown(text.to_owned())),
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = GrantError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Why a category cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("{0:?} is not a category name: lowercase letters and digits, starting with a letter")]
    InvalidName(String),
    #[error(
        "there is no category {0:?}; grantable: declaration, batch, tariff, rate, units, riskrules"
    )]
    Unknown(String),
    #[error("the category {category:?} is never granted: {reason}")]
    NeverGranted {
        category: String,
        reason: &'static str,
    },
}

/// `grants` sorted, without repeats: how a principal holds them.
pub fn normalise(mut grants: Vec<Category>) -> Vec<Category> {
    grants.sort_unstable();
    grants.dedup();
    grants
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_grantable_category_is_one_the_system_appends() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        let mut appended = vec![commands::declaration::CATEGORY, commands::batch::CATEGORY];
        appended.extend(commands::reference::CATEGORIES);
        assert_eq!(names, appended);
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Ok(category));
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{category}\""));
        }
    }

    #[test]
    fn api_keys_and_benchmarks_are_never_granted() {
        for name in [crate::auth::api_key::CATEGORY, "bench"] {
            assert!(
                matches!(Category::parse(name), Err(GrantError::NeverGranted { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn names_that_are_not_categories_are_refused_with_the_rule() {
        for name in ["", "Declaration", "declaration-1", "1batch", "dé", "a b"] {
            assert_eq!(
                Category::parse(name),
                Err(GrantError::InvalidName(name.to_owned())),
                "{name:?}"
            );
        }
        assert_eq!(
            Category::parse("manifest"),
            Err(GrantError::Unknown("manifest".into()))
        );
        assert!(serde_json::from_str::<Category>("\"apikey\"").is_err());
    }

    #[test]
    fn grants_are_held_sorted_and_once() {
        assert_eq!(
            normalise(vec![
                Category::Batch,
                Category::Declaration,
                Category::Batch
            ]),
            [Category::Declaration, Category::Batch]
        );
    }
}
