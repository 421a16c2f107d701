//! The declaration form: file a new declaration or amend an open one.
//!
//! Every input is named by the API's field path (`header.lrn`, `items[2].hsCode`), so each
//! validation error the server returns lands next to the input it names, and the form posts
//! back exactly the `DeclarationInput` the API takes. A refused form is shown again with every
//! value as entered and every error at once; nothing typed is lost.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::gql::{self, FieldError, GqlError};
use super::lists;
use super::page::{self, Page, Problem, csrf_input, error_summary, field_id};
use super::session::{CSRF_FIELD, SignedIn};
use super::texts::Texts;
use crate::server::AppState;

/// The header fields a filing has, by API name.
const HEADER_FIELDS: &[&str] = &[
    "declarationType",
    "lrn",
    "importer",
    "exporter",
    "customsOffice",
    "transportMode",
    "dispatchCountry",
    "incoterm",
    "invoiceCurrency",
    "invoiceAmount",
    "freight",
    "insurance",
];
/// The fields of one goods item, by API name.
const ITEM_FIELDS: &[&str] = &[
    "hsCode",
    "description",
    "originCountry",
    "preferenceClaim",
    "quantity",
    "unit",
    "netMass",
    "grossMass",
    "invoiceValue",
];
/// Most items a declaration has (the API's limit).
const MAX_ITEMS: usize = 999;
/// Longest value kept from one input: far above any valid one, so nothing valid is cut.
const MAX_VALUE_CHARS: usize = 1_000;

/// What the user entered, by field path; empty inputs are absent.
#[derive(Debug, Clone, Default)]
pub struct Entered {
    header: BTreeMap<&'static str, String>,
    items: Vec<BTreeMap<&'static str, String>>,
}

impl Entered {
    /// The form as posted: fields outside the filing are ignored, rows left entirely empty
    /// are dropped, and the rows are numbered from 0 again in the order sent.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut header = BTreeMap::new();
        let mut items: BTreeMap<usize, BTreeMap<&'static str, String>> = BTreeMap::new();
        for (name, value) in pairs {
            let value: String = value.trim().chars().take(MAX_VALUE_CHARS).collect();
            if let Some(field) = name.strip_prefix("header.") {
                if let Some(field) = HEADER_FIELDS.iter().find(|f| **f == field)
                    && !value.is_empty()
                {
                    header.insert(*field, value);
                }
            } else if let Some((index, field)) = item_path(name) {
                let row = items.entry(index).or_default();
                if !value.is_empty() {
                    row.insert(field, value);
                }
            }
        }
        let mut items: Vec<_> = items
            .into_values()
            .filter(|row| !row.is_empty())
            .take(MAX_ITEMS)
            .collect();
        if items.is_empty() {
            items.push(BTreeMap::new());
        }
        Self { header, items }
    }

    /// The declaration's current data, to amend it.
    fn from_declaration(data: &DeclarationData) -> Self {
        let mut entered = Self::default();
        let header = data.header.as_ref().and_then(Value::as_object);
        for field in HEADER_FIELDS {
            if let Some(text) = header.and_then(|h| h.get(*field)).and_then(text_of) {
                entered.header.insert(field, text);
            }
        }
        for item in &data.items {
            let row = ITEM_FIELDS
                .iter()
                .filter_map(|field| Some((*field, item.get(*field).and_then(text_of)?)))
                .collect();
            entered.items.push(row);
        }
        if entered.items.is_empty() {
            entered.items.push(BTreeMap::new());
        }
        entered
    }

    fn value(&self, path: &str) -> &str {
        let value = if let Some(field) = path.strip_prefix("header.") {
            self.header.get(field)
        } else {
            item_path(path).and_then(|(i, field)| self.items.get(i)?.get(field))
        };
        value.map_or("", String::as_str)
    }

    /// The `DeclarationInput` of the API, filed for `organisation` (the signed-in declarant's).
    pub fn to_input(&self, organisation: Option<&str>) -> Value {
        let mut header: Map<String, Value> = self
            .header
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
            .collect();
        if let Some(organisation) = organisation {
            header.insert("declarant".to_owned(), Value::from(organisation));
        }
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|row| {
                Value::Object(
                    row.iter()
                        .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
                        .collect(),
                )
            })
            .collect();
        json!({ "header": header, "items": items })
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `items[3].hsCode` → `(3, "hsCode")` for a known item field.
fn item_path(path: &str) -> Option<(usize, &'static str)> {
    let rest = path.strip_prefix("items[")?;
    let (index, field) = rest.split_once("].")?;
    let index: usize = index.parse().ok()?;
    let field = ITEM_FIELDS.iter().find(|f| **f == field)?;
    (index < MAX_ITEMS).then_some((index, *field))
}

/// Errors by field path, in the order the server gave them.
#[derive(Debug, Default)]
pub struct Errors {
    by_path: BTreeMap<String, Vec<String>>,
    problems: Vec<Problem>,
}

impl Errors {
    fn from_field_errors(errors: &[FieldError], entered: &Entered) -> Self {
        let mut out = Self::default();
        for error in errors {
            out.add(&error.path, &error.message, entered);
        }
        out
    }

    /// Adds a problem; it links to the input of `path` when the form has one, else to the
    /// nearest part of the form (the item row, the items).
    fn add(&mut self, path: &str, message: &str, entered: &Entered) {
        let target = if has_input(path, entered) {
            Some(path.to_owned())
        } else if let Some(row) = path
            .strip_prefix("items[")
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < entered.items.len())
        {
            Some(format!("items[{row}]"))
        } else if path.starts_with("items") {
            Some("items".to_owned())
        } else {
            None
        };
        if let Some(target) = &target {
            self.by_path
                .entry(target.clone())
                .or_default()
                .push(message.to_owned());
        }
        // The summary names the field: by its label, or by its path when the form has no
        // input for it.
        let message = match field_label(page::texts(), path) {
            Some(label) => format!("{label}: {message}"),
            None if target.as_deref() == Some(path) => message.to_owned(),
            None => format!("{path}: {message}"),
        };
        self.problems.push(Problem {
            field_id: target.as_deref().map(field_id),
            message,
        });
    }

    fn general(&mut self, message: &str) {
        self.problems.push(Problem {
            field_id: None,
            message: message.to_owned(),
        });
    }

    fn at(&self, path: &str) -> &[String] {
        self.by_path.get(path).map_or(&[], Vec::as_slice)
    }

    fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The words for the field at `path`: `Item 2, Tariff code` or `Invoice amount`.
fn field_label(t: &Texts, path: &str) -> Option<String> {
    let header = |field: &str| -> Option<&'static str> {
        Some(match field {
            "declarationType" => t.declaration_type,
            "lrn" => t.lrn,
            "declarant" => t.declarant,
            "importer" => t.importer,
            "exporter" => t.exporter,
            "customsOffice" => t.customs_office,
            "transportMode" => t.transport_mode,
            "dispatchCountry" => t.dispatch_country,
            "incoterm" => t.incoterm,
            "invoiceCurrency" => t.invoice_currency,
            "invoiceAmount" => t.invoice_amount,
            "freight" => t.freight,
            "insurance" => t.insurance,
            _ => return None,
        })
    };
    let item = |field: &str| -> Option<&'static str> {
        Some(match field {
            "hsCode" => t.hs_code,
            "description" => t.description,
            "originCountry" => t.origin_country,
            "preferenceClaim" => t.preference_claim,
            "quantity" => t.quantity,
            "unit" => t.unit,
            "netMass" => t.net_mass,
            "grossMass" => t.gross_mass,
            "invoiceValue" => t.invoice_value,
            _ => return None,
        })
    };
    if let Some(field) = path.strip_prefix("header.") {
        return header(field).map(str::to_owned);
    }
    if path == "reason" {
        return Some(t.amend_reason.to_owned());
    }
    let (index, field) = path.strip_prefix("items[")?.split_once("].")?;
    let number = index.parse::<usize>().ok()? + 1;
    Some(format!("{} {number}, {}", t.item, item(field)?))
}

fn has_input(path: &str, entered: &Entered) -> bool {
    if let Some(field) = path.strip_prefix("header.") {
        return HEADER_FIELDS.contains(&field);
    }
    path == "reason" || item_path(path).is_some_and(|(i, _)| i < entered.items.len())
}

/// What the form is for.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    File,
    Amend(Uuid),
}

struct FormView<'a> {
    t: &'static Texts,
    user: &'a SignedIn,
    purpose: Purpose,
    entered: &'a Entered,
    errors: &'a Errors,
    reason: &'a str,
    lists: &'a lists::Lists,
    /// A filing was recorded as rejected.
    rejected_filing: bool,
}

impl FormView<'_> {
    fn render(&self) -> Markup {
        let t = self.t;
        let (title, action, button) = match self.purpose {
            Purpose::File => (
                t.new_declaration_title,
                "/portal/declarations/new".to_owned(),
                t.file_button,
            ),
            Purpose::Amend(id) => (
                t.amend_title,
                format!("/portal/declarations/{id}/amend"),
                t.amend_button,
            ),
        };
        html! {
            h1 { (title) }
            (error_summary(t, &self.errors.problems))
            @if self.rejected_filing {
                p.notice role="status" { (t.rejected_filing_note) }
            }
            p.hint { (t.form_intro) }
            p.notice.draft-restored hidden role="status" { (t.unsaved_draft_restored) }
            form.declaration-form method="post" action=(action) novalidate
                data-draft=(action) data-has-errors=(!self.errors.is_empty()) {
                (csrf_input(self.user))
                fieldset #header {
                    legend { (t.header_legend) }
                    div.grid {
                        (self.select("header.declarationType", t.declaration_type, &[("import", t.import), ("export", t.export)], true))
                        (self.text("header.lrn", t.lrn, Some(t.lrn_hint), Input::default()))
                        @if let Some(org) = self.user.principal.organisation() {
                            div.field {
                                span.label { (t.declarant) }
                                p.readonly { (org) }
                            }
                        }
                        (self.text("header.importer", t.importer, Some(t.party_hint), Input::default()))
                        (self.text("header.exporter", t.exporter, None, Input::default()))
                        (self.text("header.customsOffice", t.customs_office, None, Input { size: "short", ..Input::default() }))
                        (self.select("header.transportMode", t.transport_mode, t.transport_modes, false))
                        (self.text("header.dispatchCountry", t.dispatch_country, None, Input { list: Some("countries"), size: "short", ..Input::default() }))
                        (self.select_codes("header.incoterm", t.incoterm, &lists::INCOTERMS))
                        (self.text("header.invoiceCurrency", t.invoice_currency, None, Input { list: Some("currencies"), size: "short", ..Input::default() }))
                        (self.text("header.invoiceAmount", t.invoice_amount, Some(t.amount_hint), Input::decimal()))
                        (self.text("header.freight", t.freight, None, Input::decimal()))
                        (self.text("header.insurance", t.insurance, None, Input::decimal()))
                    }
                }
                fieldset #items.items {
                    legend { (t.items_legend) }
                    @for message in self.errors.at("items") {
                        p.field-error { (message) }
                    }
                    @for (i, _) in self.entered.items.iter().enumerate() {
                        (self.item_row(i))
                    }
                    button.secondary type="submit" name="_action" value="add-item" data-add-item { (t.add_item) }
                }
                @if let Purpose::Amend(_) = self.purpose {
                    div.field.(error_class(self.errors.at("reason"))) {
                        label for="reason" { (t.amend_reason) }
                        @for message in self.errors.at("reason") {
                            p.field-error { (message) }
                        }
                        textarea #reason name="reason" rows="2" maxlength="500" { (self.reason) }
                    }
                }
                button type="submit" name="_action" value="send" { (button) }
            }
            (self.lists.datalists(t))
        }
    }

    fn item_row(&self, i: usize) -> Markup {
        let t = self.t;
        let p = |field: &str| format!("items[{i}].{field}");
        let row = format!("items[{i}]");
        html! {
            fieldset.item #(field_id(&row)) data-item {
                legend { (t.item) " " span data-item-number { (i + 1) } }
                @for message in self.errors.at(&row) {
                    p.field-error { (message) }
                }
                div.grid {
                    (self.text(&p("hsCode"), t.hs_code, Some(t.hs_code_hint), Input { list: Some("tariff-codes"), size: "medium", tariff: true, ..Input::default() }))
                    (self.text(&p("description"), t.description, None, Input { size: "wide", ..Input::default() }))
                    (self.text(&p("originCountry"), t.origin_country, None, Input { list: Some("countries"), size: "short", ..Input::default() }))
                    (self.text(&p("preferenceClaim"), t.preference_claim, None, Input { size: "short", ..Input::default() }))
                    (self.text(&p("quantity"), t.quantity, None, Input::decimal()))
                    (self.text(&p("unit"), t.unit, None, Input { list: Some("units"), size: "short", ..Input::default() }))
                    (self.text(&p("netMass"), t.net_mass, None, Input::decimal()))
                    (self.text(&p("grossMass"), t.gross_mass, None, Input::decimal()))
                    (self.text(&p("invoiceValue"), t.invoice_value, None, Input::decimal()))
                }
                button.secondary.remove type="submit" name="_action" value={ "remove-" (i) } data-remove-item
                    hidden[self.entered.items.len() < 2] {
                    (t.remove_item) span.visually-hidden { " " (i + 1) }
                }
            }
        }
    }

    fn text(&self, path: &str, label: &str, hint: Option<&str>, input: Input) -> Markup {
        let id = field_id(path);
        let errors = self.errors.at(path);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let described = [
            hint.map(|_| hint_id.as_str()),
            (!errors.is_empty()).then_some(error_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        html! {
            div.field.(input.size).(error_class(errors)) {
                label for=(id) { (label) }
                @if let Some(hint) = hint {
                    p.hint id=(hint_id) { (hint) }
                }
                @if !errors.is_empty() {
                    p.field-error id=(error_id) {
                        @for message in errors { span { (message) } " " }
                    }
                }
                input id=(id) name=(path) type="text" value=(self.entered.value(path))
                    autocomplete="off" spellcheck="false"
                    list=[input.list] inputmode=[input.inputmode]
                    data-tariff-search[input.tariff]
                    aria-invalid=[(!errors.is_empty()).then_some("true")]
                    aria-describedby=[(!described.is_empty()).then_some(described.as_str())];
            }
        }
    }

    /// A pick-list; each option shows its words and, unless `with_words_only`, its code.
    fn select(
        &self,
        path: &str,
        label: &str,
        options: &[(&str, &str)],
        with_words_only: bool,
    ) -> Markup {
        let id = field_id(path);
        let errors = self.errors.at(path);
        let current = self.entered.value(path);
        let error_id = format!("{id}-error");
        html! {
            div.field.short.(error_class(errors)) {
                label for=(id) { (label) }
                @if !errors.is_empty() {
                    p.field-error id=(error_id) { @for message in errors { span { (message) } " " } }
                }
                select id=(id) name=(path)
                    aria-invalid=[(!errors.is_empty()).then_some("true")]
                    aria-describedby=[(!errors.is_empty()).then_some(error_id.as_str())] {
                    option value="" { (self.t.choose) }
                    @for (value, words) in options {
                        option value=(value) selected[*value == current] {
                            (words) @if words != value && !with_words_only { " (" (value) ")" }
                        }
                    }
                    // A value the list lacks (typed in an earlier version) is kept, not lost.
                    @if !current.is_empty() && !options.iter().any(|(v, _)| *v == current) {
                        option value=(current) selected { (current) }
                    }
                }
            }
        }
    }

    fn select_codes(&self, path: &str, label: &str, codes: &[&str]) -> Markup {
        let options: Vec<(&str, &str)> = codes.iter().map(|c| (*c, *c)).collect();
        self.select(path, label, &options, false)
    }
}

fn error_class(errors: &[String]) -> &'static str {
    if errors.is_empty() { "" } else { "has-error" }
}

/// How one text input looks.
#[derive(Debug, Clone, Copy)]
struct Input {
    list: Option<&'static str>,
    inputmode: Option<&'static str>,
    size: &'static str,
    tariff: bool,
}

impl Default for Input {
    fn default() -> Self {
        Self {
            list: None,
            inputmode: None,
            size: "medium",
            tariff: false,
        }
    }
}

impl Input {
    fn decimal() -> Self {
        Self {
            inputmode: Some("decimal"),
            size: "short",
            ..Self::default()
        }
    }
}

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

/// A declaration's data as the amend form needs it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationData {
    status: String,
    header: Option<Value>,
    #[serde(default)]
    items: Vec<Map<String, Value>>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_posted_form_becomes_the_api_input_with_rows_renumbered() {
        let entered = Entered::from_pairs(&pairs(&[
            ("csrf", "x"),
            ("header.lrn", " LRN-1 "),
            ("header.declarant", "SOMEONE-ELSE"),
            ("items[0].hsCode", "8471300000"),
            ("items[3].hsCode", "0101210000"),
            ("items[3].quantity", "2"),
            ("items[2].description", ""),
            ("items[5].evil", "x"),
        ]));
        assert_eq!(
            entered.to_input(Some("ACME")),
            json!({
                "header": { "lrn": "LRN-1", "declarant": "ACME" },
                "items": [
                    { "hsCode": "8471300000" },
                    { "hsCode": "0101210000", "quantity": "2" },
                ],
            })
        );
        assert_eq!(entered.value("items[1].quantity"), "2");
    }

    #[test]
    fn errors_land_on_their_input_or_the_nearest_part_of_the_form() {
        let entered = Entered::from_pairs(&pairs(&[("items[0].hsCode", "1")]));
        let errors = Errors::from_field_errors(
            &[
                FieldError {
                    code: "A".into(),
                    path: "items[0].hsCode".into(),
                    message: "bad code".into(),
                },
                FieldError {
                    code: "B".into(),
                    path: "items[0]".into(),
                    message: "bad row".into(),
                },
                FieldError {
                    code: "C".into(),
                    path: "items".into(),
                    message: "too many".into(),
                },
                FieldError {
                    code: "D".into(),
                    path: "header.declarant".into(),
                    message: "not yours".into(),
                },
            ],
            &entered,
        );
        assert_eq!(errors.at("items[0].hsCode"), ["bad code"]);
        assert_eq!(errors.at("items[0]"), ["bad row"]);
        assert_eq!(errors.at("items"), ["too many"]);
        assert_eq!(errors.problems.len(), 4);
        assert_eq!(
            errors.problems[0].field_id.as_deref(),
            Some("items-0-hsCode")
        );
        assert_eq!(errors.problems[3].field_id, None);
        assert_eq!(errors.problems[0].message, "Item 1, Tariff code: bad code");
        assert_eq!(errors.problems[1].message, "bad row");
        assert_eq!(errors.problems[2].message, "too many");
        assert_eq!(errors.problems[3].message, "Declarant: not yours");
    }
}
