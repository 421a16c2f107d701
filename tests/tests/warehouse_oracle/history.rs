//! Random histories of declarations, and running them through the command service as each
//! role would: an admin files (on a historical filing date), the declarant amends or
//! withdraws, an officer inspects and accepts or refuses, an auditor corrects after clearance.

use std::collections::BTreeSet;

use commands::declaration::{Caller, CommandError, DeclarationService, Outcome, Role};
use commands::reference::{self, ReferenceView};
use domain::Decimal;
use domain::codes::{Actor, CountryCode};
use domain::declaration::{
    InspectionKind, InspectionResult, RawFiling, RawHeader, RawItem, Status,
};
use domain::reference::ReferenceEvent;
use domain::risk::{Lane, RiskCondition, RiskRule, RiskRulesPublished, RuleSet};
use eventstore::EventStore;
use projections::Runner;
use proptest::prelude::*;
use uuid::Uuid;

/// Tariff lines across eleven chapters and nine sections (chapter 93 goes to the red lane).
pub const LINES: [&str; 10] = [
    "8471300000",
    "8517130000",
    "6109100000",
    "0901211000",
    "0901212000",
    "9303200000",
    "2204210000",
    "0303140000",
    "8703230000",
    "3004900000",
];
/// Origins and countries of dispatch (Vietnamese goods go to the yellow lane).
pub const COUNTRIES: [&str; 10] = ["CN", "JP", "US", "DE", "IT", "VN", "AU", "BR", "ZA", "IN"];
/// Preferences a declarant may claim: (line, origin, agreement), each valid in the sample
/// reference data from 2020 on.
const PREFERENCES: [(&str, &str, &str); 10] = [
    ("6109100000", "CN", "FCN1"),
    ("6109100000", "VN", "FVN1"),
    ("0901211000", "US", "FUS1"),
    ("0901211000", "DE", "FEU1"),
    ("0901212000", "AU", "FAU1"),
    ("2204210000", "DE", "FEU1"),
    ("2204210000", "IT", "FEU1"),
    ("8703230000", "US", "FUS1"),
    ("3004900000", "IN", "FIN1"),
    ("3004900000", "DE", "FEU1"),
];
/// Parties whose codes order differently as bytes and in a natural-language collation.
const DECLARANTS: [&str; 3] = ["ACME", "BROKER7", "acme"];
const TRADERS: [&str; 4] = ["IMP-1", "IMP10", "imp2", "Imp.3"];
const OFFICES: [&str; 4] = ["030", "040", "20", "ICN01"];
/// Transport modes as filed: WCO codes and KCS codes (stored as the WCO code).
const MODES: [&str; 5] = ["1", "4", "40", "10", "3"];
/// Invoice currencies and their minor units.
const CURRENCIES: [(&str, u32); 4] = [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0)];
const INCOTERMS: [&str; 2] = ["FOB", "CIF"];

#[derive(Debug, Clone)]
pub struct ItemSpec {
    line: usize,
    origin: usize,
    /// The invoice value in minor units of the invoice currency.
    value: i64,
    /// Net mass and quantity in 0.0001 (finer than the warehouse keeps: it rounds them).
    mass: i64,
    quantity: i64,
    claim: bool,
}

/// What happens to a declaration the system did not clear automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Cleared,
    Refused,
    Withdrawn,
    LeftOpen,
}

#[derive(Debug, Clone)]
pub struct DeclarationSpec {
    export: bool,
    declarant: usize,
    trader: usize,
    office: usize,
    mode: usize,
    dispatch: usize,
    currency: usize,
    incoterm: usize,
    /// Days after 1 January 2020.
    filed_on: u32,
    /// A first filing under the same LRN that validation rejects (an unknown tariff line).
    rejected_first: bool,
    items: Vec<ItemSpec>,
    /// New items, amended in turn before the decision (while it is still open).
    amendments: Vec<Vec<ItemSpec>>,
    fate: Fate,
    /// Post-clearance corrections in won: (additional tax, drawback).
    corrections: Vec<(i64, i64)>,
}

/// A history: declarations, and after which steps the warehouse catches up (so facts and
/// staging are read back from its tables as well as folded within one batch).
#[derive(Debug, Clone)]
pub struct History {
    pub declarations: Vec<DeclarationSpec>,
    pub catch_up_after: Vec<bool>,
    /// Rebuild the warehouse from the start before querying.
    pub rebuild: bool,
}

fn item() -> impl Strategy<Value = ItemSpec> {
    (
        0..LINES.len(),
        0..COUNTRIES.len(),
        1i64..5_000_000,
        1i64..20_000_000,
        1i64..5_000_000,
        any::<bool>(),
    )
        .prop_map(|(line, origin, value, mass, quantity, claim)| ItemSpec {
            line,
            origin,
            value,
            mass,
            quantity,
            claim,
        })
}

fn correction() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        (1i64..300_000).prop_map(|a| (a, 0)),
        (1i64..300_000).prop_map(|b| (0, b)),
        (1i64..300_000, 1i64..300_000),
    ]
}

fn declaration() -> impl Strategy<Value = DeclarationSpec> {
    let parties = (
        prop::bool::weighted(0.2),
        0..DECLARANTS.len(),
        0..TRADERS.len(),
        0..OFFICES.len(),
        0..MODES.len(),
        0..COUNTRIES.len(),
        0..CURRENCIES.len(),
        0..INCOTERMS.len(),
    );
    let fate = prop_oneof![
        4 => Just(Fate::Cleared),
        1 => Just(Fate::Refused),
        1 => Just(Fate::Withdrawn),
        1 => Just(Fate::LeftOpen),
    ];
    let amendments = prop_oneof![
        3 => Just(Vec::new()),
        2 => prop::collection::vec(prop::collection::vec(item(), 1..5), 1..3),
    ];
    (
        parties,
        0u32..2550,
        prop::bool::weighted(0.15),
        prop::collection::vec(item(), 1..5),
        amendments,
        fate,
        prop::collection::vec(correction(), 0..3),
    )
        .prop_map(
            |(
                (export, declarant, trader, office, mode, dispatch, currency, incoterm),
                filed_on,
                rejected_first,
                items,
                amendments,
                fate,
                corrections,
            )| DeclarationSpec {
                export,
                declarant,
                trader,
                office,
                mode,
                dispatch,
                currency,
                incoterm,
                filed_on,
                rejected_first,
                items,
                amendments,
                fate,
                corrections,
            },
        )
}

pub fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(declaration(), 1..9),
        prop::collection::vec(any::<bool>(), 0..30),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(declarations, catch_up_after, rebuild)| History {
            declarations,
            catch_up_after,
            rebuild,
        })
}

fn caller(role: Role, organisation: Option<&str>, actor: &str) -> Caller {
    Caller {
        role,
        organisation: organisation.map(str::to_owned),
        actor: Actor::parse(actor).unwrap(),
    }
}

fn admin() -> Caller {
    caller(Role::Admin, None, "admin/loader")
}

fn officer() -> Caller {
    caller(Role::Officer, None, "officer/K123")
}

fn auditor() -> Caller {
    caller(Role::Auditor, None, "auditor/A7")
}

impl DeclarationSpec {
    fn declarant(&self) -> Caller {
        let org = DECLARANTS[self.declarant];
        caller(Role::Declarant, Some(org), &format!("declarant/{org}"))
    }

    fn filing(&self, lrn: &str, items: &[ItemSpec]) -> RawFiling {
        let s = |v: &str| Some(v.to_owned());
        let (currency, places) = CURRENCIES[self.currency];
        let money = |minor: i64| Decimal::new(minor, places).to_string();
        let trader = TRADERS[self.trader];
        RawFiling {
            header: RawHeader {
                declaration_type: s(if self.export { "export" } else { "import" }),
                lrn: s(lrn),
                declarant: s(DECLARANTS[self.declarant]),
                importer: (!self.export).then(|| trader.to_owned()),
                exporter: self.export.then(|| trader.to_owned()),
                customs_office: s(OFFICES[self.office]),
                transport_mode: s(MODES[self.mode]),
                dispatch_country: s(COUNTRIES[self.dispatch]),
                incoterm: s(INCOTERMS[self.incoterm]),
                invoice_currency: s(currency),
                invoice_amount: Some(money(items.iter().map(|i| i.value).sum())),
                freight: s(&money(1250)),
                insurance: s(&money(100)),
            },
            items: items
                .iter()
                .map(|i| {
                    let (line, origin) = (LINES[i.line], COUNTRIES[i.origin]);
                    let claim = PREFERENCES
                        .iter()
                        .find(|p| p.0 == line && p.1 == origin)
                        .filter(|_| i.claim && !self.export)
                        .map(|p| p.2.to_owned());
                    RawItem {
                        hs_code: s(line),
                        description: s("goods"),
                        origin_country: s(origin),
                        preference_claim: claim,
                        quantity: s(&Decimal::new(i.quantity, 4).to_string()),
                        unit: s("H87"),
                        net_mass: s(&Decimal::new(i.mass, 4).to_string()),
                        gross_mass: s(&Decimal::new(i.mass * 2, 4).to_string()),
                        invoice_value: s(&money(i.value)),
                    }
                })
                .collect(),
        }
    }
}

/// The command service on `store`, with the sample reference data this history needs (its
/// tariff lines, rates and units) and rules that route chapter 93 to the red lane and
/// Vietnamese goods to the yellow one (no random inspection).
pub async fn service(store: &EventStore) -> DeclarationService {
    let lines: BTreeSet<&str> = LINES.into_iter().collect();
    let mut events: Vec<ReferenceEvent> = reference::sample_events()
        .unwrap()
        .into_iter()
        .filter(|e| match e {
            ReferenceEvent::TariffLinePublished(t) => lines.contains(t.0.hs_code.as_str()),
            ReferenceEvent::ExchangeRatePublished(r) => {
                ["USD", "EUR", "JPY"].contains(&r.0.currency.as_str())
            }
            _ => true,
        })
        .collect();
    let rules = RuleSet::new(
        3,
        vec![
            RiskRule {
                id: "CH93".into(),
                lane: Lane::Red,
                condition: RiskCondition::TariffChapters {
                    chapters: ["93".to_owned()].into(),
                },
            },
            RiskRule {
                id: "ORIGIN-VN".into(),
                lane: Lane::Yellow,
                condition: RiskCondition::Origins {
                    countries: [CountryCode::parse("VN").unwrap()].into(),
                },
            },
        ],
        None,
    )
    .unwrap();
    events.push(ReferenceEvent::RiskRulesPublished(RiskRulesPublished(
        rules,
    )));
    reference::import(store, events, "admin/test")
        .await
        .unwrap();
    DeclarationService::new(store.clone(), ReferenceView::load(store).await.unwrap())
}

/// How the history went, for the failure message.
#[derive(Debug, Default)]
pub struct Summary {
    pub filed: usize,
    pub rejected: usize,
    pub amended: usize,
    pub accepted: usize,
    pub corrections: usize,
}

fn open(outcome: &Outcome) -> bool {
    outcome.state.status.is_lodged_and_open()
}

/// Catches the warehouse up after the steps a history names.
struct Steps<'a> {
    runner: &'a Runner,
    after: &'a [bool],
    done: usize,
}

impl Steps<'_> {
    async fn next(&mut self) {
        if self.after.get(self.done).copied().unwrap_or(false) {
            self.runner.catch_up().await.unwrap();
        }
        self.done += 1;
    }
}

/// Runs the history: every filing, then amendments and decisions, then corrections, with the
/// warehouse `runner` catching up after the steps the history names.
pub async fn run(service: &DeclarationService, history: &History, runner: &Runner) -> Summary {
    let mut summary = Summary::default();
    let mut steps = Steps {
        runner,
        after: &history.catch_up_after,
        done: 0,
    };
    let mut filed: Vec<Option<Outcome>> = Vec::new();
    for (n, spec) in history.declarations.iter().enumerate() {
        let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
            + chrono::Days::new(u64::from(spec.filed_on));
        let lrn = format!("L{n}");
        if spec.rejected_first {
            let mut broken = spec.filing(&lrn, &spec.items);
            broken.items[0].hs_code = Some("9999999999".to_owned());
            let outcome = service
                .file_dated(&admin(), broken, Some(date))
                .await
                .unwrap();
            assert_eq!(outcome.state.status, Status::Rejected);
            summary.rejected += 1;
        }
        let outcome = service
            .file_dated(&admin(), spec.filing(&lrn, &spec.items), Some(date))
            .await
            .unwrap();
        if outcome.state.status == Status::Rejected {
            summary.rejected += 1;
            filed.push(None);
        } else {
            summary.filed += 1;
            filed.push(Some(outcome));
        }
        steps.next().await;
    }
    let mut cleared: Vec<Option<Uuid>> = Vec::new();
    for (n, (spec, outcome)) in history.declarations.iter().zip(filed).enumerate() {
        let Some(mut outcome) = outcome else {
            cleared.push(None);
            continue;
        };
        let id = outcome.id;
        for items in &spec.amendments {
            if !open(&outcome) {
                break;
            }
            let amended = service
                .amend(
                    &spec.declarant(),
                    id,
                    spec.filing(&format!("L{n}"), items),
                    "corrected invoice".to_owned(),
                )
                .await;
            match amended {
                Ok(o) => {
                    summary.amended += 1;
                    outcome = o;
                }
                // An amendment the reference data refuses leaves the declaration as it was.
                Err(CommandError::Rejected(_)) => {}
                Err(e) => panic!("amending {id}: {e}"),
            }
        }
        if open(&outcome) {
            let officer = officer();
            outcome = match spec.fate {
                Fate::Cleared => {
                    service
                        .record_inspection(
                            &officer,
                            id,
                            InspectionKind::Physical,
                            InspectionResult::Compliant,
                            String::new(),
                        )
                        .await
                        .unwrap();
                    service.accept(&officer, id).await.unwrap()
                }
                Fate::Refused => service
                    .refuse(&officer, id, "documents missing".to_owned())
                    .await
                    .unwrap(),
                Fate::Withdrawn => service
                    .withdraw(&spec.declarant(), id, "filed in error".to_owned())
                    .await
                    .unwrap(),
                Fate::LeftOpen => outcome,
            };
        }
        let accepted = outcome.state.status == Status::Accepted;
        summary.accepted += usize::from(accepted);
        cleared.push(accepted.then_some(id));
        steps.next().await;
    }
    for (spec, id) in history.declarations.iter().zip(cleared) {
        let Some(id) = id else { continue };
        for (k, (additional_tax, drawback)) in spec.corrections.iter().enumerate() {
            service
                .correct(
                    &auditor(),
                    id,
                    Decimal::from(*additional_tax),
                    Decimal::from(*drawback),
                    "post-clearance audit".to_owned(),
                    Some(format!("AUD-{k}")),
                )
                .await
                .unwrap();
            summary.corrections += 1;
            steps.next().await;
        }
    }
    summary
}
