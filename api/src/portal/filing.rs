//! The declaration form: file a new declaration or amend an open one.
//!
//! Every input is named by the API's field path (`header.lrn`, `items[2].hsCode`), so each
//! validation error the server returns lands next to the input it names, and the form posts
//! back exactly the `DeclarationInput` the API takes. A refused form is shown again with every
//! value as entered and every error at once; nothing typed is lost.

mod entered;
mod view;

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use self::entered::{DeclarationData, Entered, Errors, MAX_ITEMS, MAX_VALUE_CHARS};
use self::view::{FormView, Purpose};
use super::gql::{self, FieldError, GqlError};
use super::lists;
use super::page::{self, Page};
use super::session::{CSRF_FIELD, SignedIn};
use crate::server::AppState;

/// `GET /portal/declarations/new`.
pub async fn new_form(State(state): State<AppState>, user: SignedIn) -> Response {
    let t = page::texts();
    if !user.is_declarant() {
        return page::forbidden(t);
    }
    let mut entered = Entered::from_pairs(&[]);
    entered
        .header
        .insert("declarationType", "import".to_owned());
    render(
        &state,
        &user,
        Purpose::File,
        &entered,
        &Errors::default(),
        "",
        false,
        StatusCode::OK,
    )
}

#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    user: &SignedIn,
    purpose: Purpose,
    entered: &Entered,
    errors: &Errors,
    reason: &str,
    rejected_filing: bool,
    status: StatusCode,
) -> Response {
    let t = page::texts();
    let lists = lists::Lists::load(state);
    let form = FormView {
        t,
        user,
        purpose,
        entered,
        errors,
        reason,
        lists: &lists,
        rejected_filing,
    };
    let title = match purpose {
        Purpose::File => t.new_declaration_title,
        Purpose::Amend(_) => t.amend_title,
    };
    Page::new(t, title)
        .user(user)
        .body(form.render())
        .status(status)
        .into_response()
}

/// What a posted form asks for besides sending.
enum Action {
    Send,
    AddItem,
    RemoveItem(usize),
}

fn action_of(pairs: &[(String, String)]) -> Action {
    match field(pairs, "_action") {
        "add-item" => Action::AddItem,
        other => match other.strip_prefix("remove-").and_then(|i| i.parse().ok()) {
            Some(i) => Action::RemoveItem(i),
            None => Action::Send,
        },
    }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Handles the add/remove buttons of a form sent without JavaScript: the form comes back
/// with one row more or less. `None` when the form is to be sent.
fn edit_rows(action: &Action, entered: &mut Entered) -> Option<()> {
    match action {
        Action::Send => None,
        Action::AddItem => {
            if entered.items.len() < MAX_ITEMS {
                entered.items.push(BTreeMap::new());
            }
            Some(())
        }
        Action::RemoveItem(i) => {
            if *i < entered.items.len() && entered.items.len() > 1 {
                entered.items.remove(*i);
            }
            Some(())
        }
    }
}

#[derive(Debug, Deserialize)]
struct FiledResult {
    #[serde(rename = "fileDeclaration")]
    result: CommandResult,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommandResult {
    id: Uuid,
    status: String,
    #[serde(default)]
    declarant_errors: Vec<FieldError>,
}

const FILE: &str = "mutation File($input: DeclarationInput!) { \
    fileDeclaration(input: $input) { id status declarantErrors { code path message } } }";

/// `POST /portal/declarations/new`.
pub async fn file(
    State(state): State<AppState>,
    user: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let t = page::texts();
    if let Some(refused) = user.csrf_refusal(field(&pairs, CSRF_FIELD)) {
        return refused;
    }
    if !user.is_declarant() {
        return page::forbidden(t);
    }
    let mut entered = Entered::from_pairs(&pairs);
    let action = action_of(&pairs);
    if edit_rows(&action, &mut entered).is_some() {
        return render(
            &state,
            &user,
            Purpose::File,
            &entered,
            &Errors::default(),
            "",
            false,
            StatusCode::OK,
        );
    }
    let variables = json!({ "input": entered.to_input(user.principal.organisation()) });
    match gql::run::<FiledResult>(&state, &user, FILE, variables).await {
        Ok(FiledResult { result }) if result.status == "REJECTED" => {
            let errors = Errors::from_field_errors(&result.declarant_errors, &entered);
            render(
                &state,
                &user,
                Purpose::File,
                &entered,
                &errors,
                "",
                true,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Ok(FiledResult { result }) => {
            Redirect::to(&format!("/portal/declarations/{}?done=filed", result.id)).into_response()
        }
        Err(errors) => refused(&state, &user, Purpose::File, &entered, "", &errors),
    }
}

/// The form again with the API's errors, or an error page for failures that are not the form's.
fn refused(
    state: &AppState,
    user: &SignedIn,
    purpose: Purpose,
    entered: &Entered,
    reason: &str,
    errors: &[GqlError],
) -> Response {
    let t = page::texts();
    if let Some(error) = errors
        .iter()
        .find(|e| e.code == "INTERNAL" || e.error_id.is_some())
    {
        return page::unavailable(t, StatusCode::INTERNAL_SERVER_ERROR, error.error_id);
    }
    if errors.iter().any(GqlError::is_not_found) {
        return page::not_found(t);
    }
    let mut shown = Errors::default();
    for error in errors {
        if !error.validation_errors.is_empty() {
            for e in &error.validation_errors {
                shown.add(&e.path, &e.message, entered);
            }
        } else if let Some(field) = &error.field {
            shown.add(field, &error.message, entered);
        } else {
            shown.general(&error.message);
        }
    }
    render(
        state,
        user,
        purpose,
        entered,
        &shown,
        reason,
        false,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

#[derive(Debug, Deserialize)]
struct Loaded {
    declaration: Option<DeclarationData>,
}

const LOAD: &str = "query Load($id: UUID!) { declaration(id: $id) { status \
    header { declarationType lrn importer exporter customsOffice transportMode dispatchCountry \
    incoterm invoiceCurrency invoiceAmount freight insurance } \
    items { hsCode description originCountry preferenceClaim quantity unit netMass grossMass \
    invoiceValue } } }";

/// Whether a declaration in `status` may be amended or withdrawn (the domain's rule: lodged
/// and not yet decided).
pub fn is_open(status: &str) -> bool {
    matches!(status, "AWAITING_INSPECTION" | "INSPECTED")
}

/// `GET /portal/declarations/{id}/amend`.
pub async fn amend_form(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let t = page::texts();
    let Ok(id) = Uuid::parse_str(&id) else {
        return page::not_found(t);
    };
    if !user.is_declarant() {
        return page::forbidden(t);
    }
    let loaded = gql::run::<Loaded>(&state, &user, LOAD, json!({ "id": id })).await;
    let data = match loaded {
        Ok(Loaded {
            declaration: Some(data),
        }) => data,
        Ok(Loaded { declaration: None }) => return page::not_found(t),
        Err(errors) => {
            return refused(
                &state,
                &user,
                Purpose::Amend(id),
                &Entered::default(),
                "",
                &errors,
            );
        }
    };
    if !is_open(&data.status) {
        return Redirect::to(&format!("/portal/declarations/{id}")).into_response();
    }
    let entered = Entered::from_declaration(&data);
    render(
        &state,
        &user,
        Purpose::Amend(id),
        &entered,
        &Errors::default(),
        "",
        false,
        StatusCode::OK,
    )
}

const AMEND: &str = "mutation Amend($id: UUID!, $input: DeclarationInput!, $reason: String!) { \
    amendDeclaration(id: $id, input: $input, reason: $reason) { id status } }";

/// `POST /portal/declarations/{id}/amend`.
pub async fn amend(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let t = page::texts();
    if let Some(refused) = user.csrf_refusal(field(&pairs, CSRF_FIELD)) {
        return refused;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return page::not_found(t);
    };
    let purpose = Purpose::Amend(id);
    let mut entered = Entered::from_pairs(&pairs);
    let reason: String = field(&pairs, "reason")
        .trim()
        .chars()
        .take(MAX_VALUE_CHARS)
        .collect();
    if edit_rows(&action_of(&pairs), &mut entered).is_some() {
        return render(
            &state,
            &user,
            purpose,
            &entered,
            &Errors::default(),
            &reason,
            false,
            StatusCode::OK,
        );
    }
    let input = entered.to_input(user.principal.organisation());
    let variables = json!({ "id": id, "input": input, "reason": reason });
    match gql::run::<Value>(&state, &user, AMEND, variables).await {
        Ok(_) => Redirect::to(&format!("/portal/declarations/{id}?done=amended")).into_response(),
        Err(errors) => refused(&state, &user, purpose, &entered, &reason, &errors),
    }
}
