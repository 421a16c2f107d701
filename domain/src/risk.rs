//! Risk lanes: green (accepted automatically), yellow (documentary review), red (physical
//! inspection), decided by a versioned [`RuleSet`] plus random inspection.
//!
//! Every rule whose condition holds fires; the strictest lane among the fired rules wins (green
//! when none fires). Random inspection draws from a ChaCha20 generator seeded with the command's
//! seed and the declaration id (see [`random_draw`]), so the same seed and declaration always give
//! the same draw, and the outcome records the seed, the ratio and the draw for the auditor.

use crate::codes::{CountryCode, HsCode, PartyId};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

/// The lane a declaration is routed to. Ordered from the most lenient to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Lane {
    /// Accepted automatically.
    Green,
    /// Documentary review by an officer.
    Yellow,
    /// Physical inspection.
    Red,
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        })
    }
}

/// What makes a rule fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RiskCondition {
    /// An item's tariff code is in one of these 2-digit HS chapters.
    TariffChapters { chapters: BTreeSet<String> },
    /// An item originates in one of these countries.
    Origins { countries: BTreeSet<CountryCode> },
    /// The declaration's total customs value (national currency) is at least `amount`.
    CustomsValueAtLeast { amount: Decimal },
    /// Post-clearance audits found fraud at least `count` times before for this importer
    /// (the count is passed in the command).
    ImporterFraudFindingsAtLeast { count: u32 },
    /// The declarant, importer or exporter is on this watch list. Always routes to red.
    WatchListedParties { parties: BTreeSet<PartyId> },
}

/// One rule: an id stable across rule-set versions, a condition and the lane it routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskRule {
    pub id: String,
    pub lane: Lane,
    pub condition: RiskCondition,
}

/// Random inspection: a share `ratio` (0 to 1, e.g. `0.05`) of declarations goes to `lane`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomInspection {
    pub ratio: Decimal,
    pub lane: Lane,
}

/// A versioned set of risk rules, as published in [`RiskRulesPublished`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RuleSetFields")]
pub struct RuleSet {
    version: u32,
    rules: Vec<RiskRule>,
    random_inspection: Option<RandomInspection>,
}

/// A rule set that breaks its own rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSetError {
    #[error("rule set version must be at least 1")]
    ZeroVersion,
    #[error("rule id {0:?} must be 1-32 characters of A-Z 0-9 _ -")]
    InvalidRuleId(String),
    #[error("rule id {0} is used twice")]
    DuplicateRuleId(String),
    #[error("rule {0}: {1:?} is not a 2-digit HS chapter")]
    InvalidChapter(String, String),
    #[error("rule {0}: a watch-list rule always routes to red")]
    WatchListNotRed(String),
    #[error("rule {0}: a rule routing to green has no effect")]
    GreenRule(String),
    #[error("random inspection ratio {0} must be between 0 and 1 with at most 6 decimals")]
    InvalidRatio(Decimal),
    #[error("random inspection cannot route to green")]
    GreenRandomInspection,
}

/// The id of the pseudo-rule recorded when random inspection selects a declaration.
pub const RANDOM_RULE_ID: &str = "RANDOM";

impl RuleSet {
    /// A rule set, checked: version ≥ 1, unique well-formed rule ids, 2-digit chapters,
    /// watch lists routing to red, no rule routing to green, a ratio in `0..=1`.
    pub fn new(
        version: u32,
        rules: Vec<RiskRule>,
        random_inspection: Option<RandomInspection>,
    ) -> Result<Self, RuleSetError> {
        RuleSetFields {
            version,
            rules,
            random_inspection,
        }
        .try_into()
    }

    /// The version recorded with every lane decision.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The rules, in publication order.
    pub fn rules(&self) -> &[RiskRule] {
        &self.rules
    }

    /// The random inspection setting, if any.
    pub fn random_inspection(&self) -> Option<&RandomInspection> {
        self.random_inspection.as_ref()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleSetFields {
    version: u32,
    rules: Vec<RiskRule>,
    #[serde(default)]
    random_inspection: Option<RandomInspection>,
}

impl TryFrom<RuleSetFields> for RuleSet {
    type Error = RuleSetError;

    fn try_from(f: RuleSetFields) -> Result<Self, Self::Error> {
        if f.version == 0 {
            return Err(RuleSetError::ZeroVersion);
        }
        let mut ids = BTreeSet::new();
        for rule in &f.rules {
            let id_ok = crate::codes::chars_within(&rule.id, 1, 32, |c| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'
            });
            if !id_ok || rule.id == RANDOM_RULE_ID {
                return Err(RuleSetError::InvalidRuleId(rule.id.clone()));
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(RuleSetError::DuplicateRuleId(rule.id.clone()));
            }
            if rule.lane == Lane::Green {
                return Err(RuleSetError::GreenRule(rule.id.clone()));
            }
            match &rule.condition {
                RiskCondition::TariffChapters { chapters } => {
                    if let Some(bad) = chapters
                        .iter()
                        .find(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Err(RuleSetError::InvalidChapter(rule.id.clone(), bad.clone()));
                    }
                }
                RiskCondition::WatchListedParties { .. } if rule.lane != Lane::Red => {
                    return Err(RuleSetError::WatchListNotRed(rule.id.clone()));
                }
                _ => {}
            }
        }
        if let Some(random) = &f.random_inspection {
            if random.ratio < Decimal::ZERO
                || random.ratio > Decimal::ONE
                || random.ratio.scale() > 6
            {
                return Err(RuleSetError::InvalidRatio(random.ratio));
            }
            if random.lane == Lane::Green {
                return Err(RuleSetError::GreenRandomInspection);
            }
        }
        Ok(Self {
            version: f.version,
            rules: f.rules,
            random_inspection: f.random_inspection,
        })
    }
}

/// A risk rule set was published; its payload is the rule set. The newest version is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RiskRulesPublished(pub RuleSet);

/// The facts of a declaration that the rules look at.
#[derive(Debug, Clone)]
pub struct RiskSubject<'a> {
    pub declaration_id: Uuid,
    /// Tariff code and origin of each item, in item order.
    pub items: Vec<(&'a HsCode, CountryCode)>,
    /// Total customs value in the national currency.
    pub customs_value: Decimal,
    /// Declarant, importer and/or exporter, with their role for the reason text.
    pub parties: Vec<(&'static str, &'a PartyId)>,
    /// Fraud findings of earlier post-clearance audits of the importer (from the command).
    pub importer_fraud_findings: u32,
}

/// A rule that fired and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FiredRule {
    pub rule_id: String,
    pub lane: Lane,
    pub reason: String,
}

/// The random inspection draw, recorded so that anyone can recompute it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomDraw {
    /// The draw in `[0, 1)`, six decimals (see [`random_draw`]).
    pub draw: Decimal,
    pub ratio: Decimal,
    pub selected: bool,
}

/// The lane decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskOutcome {
    pub lane: Lane,
    pub rule_set_version: u32,
    /// Every rule that fired, in rule-set order, then the random pseudo-rule.
    pub fired: Vec<FiredRule>,
    /// The seed given by the command; a string in JSON (it exceeds 2^53).
    #[serde(with = "u64_as_string")]
    pub seed: u64,
    /// The random draw, when the rule set has random inspection.
    pub random: Option<RandomDraw>,
}

/// The random draw for a declaration: a ChaCha20 generator seeded with 32 bytes — the seed
/// (8 bytes little-endian), the declaration id (16 bytes, RFC 4122 order), 8 zero bytes —
/// yields one `u64`; the draw is `(u64 mod 1,000,000) / 1,000,000`. (The modulo bias is below
/// 10^-13.) A declaration is selected when `draw < ratio`.
pub fn random_draw(seed: u64, declaration_id: Uuid) -> Decimal {
    let mut key = [0_u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..24].copy_from_slice(declaration_id.as_bytes());
    let mut rng = ChaCha20Rng::from_seed(key);
    let millionths = rng.next_u64() % 1_000_000;
    Decimal::new(i64::try_from(millionths).unwrap_or(0), 6)
}

/// Decides the lane of `subject` under `rules`, drawing random inspection with `seed`.
pub fn assess_risk(rules: &RuleSet, subject: &RiskSubject<'_>, seed: u64) -> RiskOutcome {
    let mut fired: Vec<FiredRule> = rules
        .rules
        .iter()
        .filter_map(|rule| {
            reason(&rule.condition, subject).map(|reason| FiredRule {
                rule_id: rule.id.clone(),
                lane: rule.lane,
                reason,
            })
        })
        .collect();
    let random = rules.random_inspection.as_ref().map(|r| {
        let draw = random_draw(seed, subject.declaration_id);
        let selected = draw < r.ratio;
        if selected {
            fired.push(FiredRule {
                rule_id: RANDOM_RULE_ID.to_owned(),
                lane: r.lane,
                reason: format!("random inspection: draw {draw} is below ratio {}", r.ratio),
            });
        }
        RandomDraw {
            draw,
            ratio: r.ratio,
            selected,
        }
    });
    let lane = fired.iter().map(|f| f.lane).max().unwrap_or(Lane::Green);
    RiskOutcome {
        lane,
        rule_set_version: rules.version,
        fired,
        seed,
        random,
    }
}

/// Why `condition` holds for `subject`, or `None` when it does not.
fn reason(condition: &RiskCondition, subject: &RiskSubject<'_>) -> Option<String> {
    let item_list = |items: Vec<usize>| {
        items
            .iter()
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match condition {
        RiskCondition::TariffChapters { chapters } => {
            let hits: Vec<usize> = (0..subject.items.len())
                .filter(|&i| chapters.contains(subject.items[i].0.chapter()))
                .collect();
            let first = *hits.first()?;
            Some(format!(
                "tariff chapter {} is watched (items {})",
                subject.items[first].0.chapter(),
                item_list(hits)
            ))
        }
        RiskCondition::Origins { countries } => {
            let hits: Vec<usize> = (0..subject.items.len())
                .filter(|&i| countries.contains(&subject.items[i].1))
                .collect();
            let first = *hits.first()?;
            Some(format!(
                "origin {} is watched (items {})",
                subject.items[first].1,
                item_list(hits)
            ))
        }
        RiskCondition::CustomsValueAtLeast { amount } => {
            (subject.customs_value >= *amount).then(|| {
                format!(
                    "customs value {} is at least {amount}",
                    subject.customs_value
                )
            })
        }
        RiskCondition::ImporterFraudFindingsAtLeast { count } => {
            (subject.importer_fraud_findings >= *count).then(|| {
                format!(
                    "importer has {} earlier fraud findings (threshold {count})",
                    subject.importer_fraud_findings
                )
            })
        }
        RiskCondition::WatchListedParties { parties } => {
            let (role, party) = subject.parties.iter().find(|(_, p)| parties.contains(*p))?;
            Some(format!("{role} {party} is watch-listed"))
        }
    }
}

mod u64_as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
