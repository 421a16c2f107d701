//! The page shell every portal page shares (head, navigation, sign-out), the pieces forms are
//! built of (fields with their errors, the error summary), and the generic error pages.
//!
//! maud escapes every value it interpolates; nothing here writes raw HTML.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use uuid::Uuid;

use super::gql::GqlError;
use super::session::{CSRF_FIELD, SignedIn};
use super::texts::{EN, Texts};
use super::warehouse::may_view_warehouse;
use crate::graphql::graphiql;

/// The texts of the portal's language.
pub fn texts() -> &'static Texts {
    &EN
}

/// One page: title, body, who is signed in, and the HTTP status.
#[derive(Debug)]
pub struct Page<'a> {
    t: &'static Texts,
    title: &'a str,
    user: Option<&'a SignedIn>,
    body: Markup,
    status: StatusCode,
}

impl<'a> Page<'a> {
    pub fn new(t: &'static Texts, title: &'a str) -> Self {
        Self {
            t,
            title,
            user: None,
            body: html! {},
            status: StatusCode::OK,
        }
    }

    pub fn user(mut self, user: &'a SignedIn) -> Self {
        self.user = Some(user);
        self
    }

    pub fn body(mut self, body: Markup) -> Self {
        self.body = body;
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    fn render(&self) -> Markup {
        let t = self.t;
        let assets = graphiql::assets_path();
        html! {
            (DOCTYPE)
            html lang=(t.lang) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " – " (t.app_name) }
                    link rel="stylesheet" href={ (assets) "/portal.css" };
                    script src={ (assets) "/portal.js" } defer {}
                }
                body {
                    a.skip-link href="#main" { (t.skip_to_content) }
                    header.site-header {
                        a.brand href="/portal/" { (t.app_name) }
                        @if let Some(user) = self.user {
                            nav aria-label="Main" {
                                ul {
                                    @if user.reads_declarations() {
                                        li { a href="/portal/declarations" { (t.nav_declarations) } }
                                    }
                                    @if user.is_declarant() {
                                        li { a href="/portal/declarations/new" { (t.nav_new_declaration) } }
                                    }
                                    @if user.reads_declarations() {
                                        li { a href="/portal/batches" { (t.nav_batches) } }
                                    }
                                    @if may_view_warehouse(user.principal.role()) {
                                        li { a href="/portal/warehouse" { (t.nav_warehouse) } }
                                    }
                                }
                            }
                            div.user {
                                span { (t.signed_in_as) " " strong { (user.principal.actor().as_str()) } }
                                form method="post" action="/portal/sign-out" {
                                    (csrf_input(user))
                                    button.link type="submit" { (t.sign_out) }
                                }
                            }
                        }
                    }
                    main #main tabindex="-1" { (self.body) }
                }
            }
        }
    }
}

impl IntoResponse for Page<'_> {
    fn into_response(self) -> Response {
        (self.status, self.render()).into_response()
    }
}

/// The hidden synchronizer token field of a form.
pub fn csrf_input(user: &SignedIn) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(user.csrf); }
}

/// One problem to show: the message, and the id of the field it concerns (when one does).
#[derive(Debug, Clone)]
pub struct Problem {
    pub field_id: Option<String>,
    pub message: String,
}

/// The error summary at the top of a form: every problem, each a link to its field.
pub fn error_summary(t: &Texts, problems: &[Problem]) -> Markup {
    html! {
        @if !problems.is_empty() {
            div.error-summary #error-summary role="alert" tabindex="-1" aria-labelledby="error-summary-title" {
                h2 #error-summary-title { (t.error_summary_title) }
                ul {
                    @for problem in problems {
                        li {
                            @match &problem.field_id {
                                Some(id) => a href={ "#" (id) } { (problem.message) },
                                None => (problem.message),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A generic error page: a title, a sentence, and for failures that are not the user's the
/// reference under which the details were logged.
pub fn error_page(
    t: &'static Texts,
    status: StatusCode,
    title: &str,
    text: &str,
    reference: Option<Uuid>,
) -> Response {
    let body = html! {
        h1 { (title) }
        p { (text) }
        @if let Some(reference) = reference {
            p.hint { (t.error_reference) ": " code { (reference) } }
        }
        p { a href="/portal/" { (t.back_to_portal) } }
    };
    Page::new(t, title)
        .body(body)
        .status(status)
        .into_response()
}

/// The page for a failed GraphQL operation that is not about a form: "not found" (also for
/// what the principal may not see), "not allowed", or the generic error with its reference.
pub fn failure(errors: &[GqlError]) -> Response {
    let t = texts();
    if errors.iter().any(GqlError::is_not_found) {
        return not_found(t);
    }
    if errors.iter().any(|e| e.code == "FORBIDDEN") {
        return forbidden(t);
    }
    let reference = errors.iter().find_map(|e| e.error_id);
    unavailable(t, StatusCode::INTERNAL_SERVER_ERROR, reference)
}

pub fn not_found(t: &'static Texts) -> Response {
    error_page(
        t,
        StatusCode::NOT_FOUND,
        t.not_found_title,
        t.not_found_text,
        None,
    )
}

pub fn forbidden(t: &'static Texts) -> Response {
    error_page(
        t,
        StatusCode::FORBIDDEN,
        t.forbidden_title,
        t.forbidden_text,
        None,
    )
}

pub fn form_expired(t: &'static Texts) -> Response {
    error_page(
        t,
        StatusCode::FORBIDDEN,
        t.form_expired_title,
        t.form_expired_text,
        None,
    )
}

pub fn unavailable(t: &'static Texts, status: StatusCode, reference: Option<Uuid>) -> Response {
    let status = if status.is_server_error() {
        status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    error_page(
        t,
        status,
        t.unavailable_title,
        t.unavailable_text,
        reference,
    )
}

/// 429 for too many sign-in attempts, with when to try again.
pub fn too_many_attempts(t: &'static Texts, retry_after_secs: u64) -> Response {
    let mut response = error_page(
        t,
        StatusCode::TOO_MANY_REQUESTS,
        t.sign_in_title,
        t.too_many_attempts,
        None,
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The id of the input for a field path: `items[2].hsCode` → `items-2-hsCode`.
pub fn field_id(path: &str) -> String {
    path.chars()
        .filter_map(|c| match c {
            '[' | '.' => Some('-'),
            ']' => None,
            c => Some(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ids_follow_the_paths() {
        assert_eq!(field_id("items[2].hsCode"), "items-2-hsCode");
        assert_eq!(field_id("header.lrn"), "header-lrn");
    }
}
