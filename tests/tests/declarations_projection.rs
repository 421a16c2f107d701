//! The `declarations` read model on every backend: declarations decided by the real domain,
//! appended to a real store, projected by the runner, and read through the query API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "declarations_projection/fixture.rs"]
mod fixture;
#[path = "declarations_projection/harness.rs"]
mod harness;
#[path = "declarations_projection/lifecycle.rs"]
mod lifecycle;
#[path = "declarations_projection/lists.rs"]
mod lists;
#[path = "declarations_projection/rebuild.rs"]
mod rebuild;

use aduana_tests::on_every_backend;
use lifecycle::*;
use lists::*;
use rebuild::*;

on_every_backend! {
    a_green_filing_is_accepted_at_once_and_shows_its_duties => green_filing;
    a_yellow_declaration_waits_for_its_inspection_then_is_accepted => yellow_accepted;
    a_red_declaration_with_discrepancies_is_refused => red_refused;
    an_amendment_replaces_the_items_and_keeps_the_payments => amendment;
    a_withdrawn_declaration_keeps_its_payment => withdrawn;
    a_rejected_filing_is_listed_for_its_declarant_until_filed_again => rejected;
    filters_select_by_status_lane_declarant_office_dates_and_tariff_prefix => filters;
    paging_visits_every_row_once_in_a_stable_order => paging;
    bad_page_requests_are_refused => bad_requests;
    an_organisation_never_sees_another_organisations_declarations => scopes;
    the_rebuilt_projection_equals_the_live_one_row_for_row => rebuild;
    an_event_the_domain_cannot_decode_stops_the_projection => undecodable;
    a_payload_that_does_not_match_its_schema_stops_the_projection => broken_payload;
    an_event_before_any_filing_stops_the_projection => orphan_event;
}
