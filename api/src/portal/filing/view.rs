//! The declaration form as HTML: header fields, item rows, pick-lists, errors at their fields.

use maud::{Markup, html};
use uuid::Uuid;

use super::super::lists;
use super::super::page::{csrf_input, error_summary, field_id};
use super::super::session::SignedIn;
use super::super::texts::Texts;
use super::entered::{Entered, Errors};

/// What the form is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    File,
    Amend(Uuid),
}

pub(super) struct FormView<'a> {
    pub(super) t: &'static Texts,
    pub(super) user: &'a SignedIn,
    pub(super) purpose: Purpose,
    pub(super) entered: &'a Entered,
    pub(super) errors: &'a Errors,
    pub(super) reason: &'a str,
    pub(super) lists: &'a lists::Lists,
    /// A filing was recorded as rejected.
    pub(super) rejected_filing: bool,
}

impl FormView<'_> {
    pub(super) fn render(&self) -> Markup {
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

    pub(super) fn item_row(&self, i: usize) -> Markup {
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

    pub(super) fn text(&self, path: &str, label: &str, hint: Option<&str>, input: Input) -> Markup {
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
    pub(super) fn select(
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

    pub(super) fn select_codes(&self, path: &str, label: &str, codes: &[&str]) -> Markup {
        let options: Vec<(&str, &str)> = codes.iter().map(|c| (*c, *c)).collect();
        self.select(path, label, &options, false)
    }
}

pub(super) fn error_class(errors: &[String]) -> &'static str {
    if errors.is_empty() { "" } else { "has-error" }
}

/// How one text input looks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
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
    pub(super) fn decimal() -> Self {
        Self {
            inputmode: Some("decimal"),
            size: "short",
            ..Self::default()
        }
    }
}
