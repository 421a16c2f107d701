//! The document limit async-graphql lacks, and error codes for the limits it has.
//!
//! async-graphql's depth and complexity limits do not count `__typename` (100,000 aliased
//! `__typename` ran under `limit_depth(10)`), and its recursion and directive checks walk
//! fragment spreads without remembering them, so a few nested fragments that each spread the
//! next twice make them walk 2^n selections. [`DocumentLimits`] runs first, before those checks:
//! it parses the document once (async-graphql reuses the parse), counts every selection with
//! each fragment counted once and multiplied at each spread, stops at the first fragment cycle,
//! and refuses a document over the limit with code `TOO_MANY_SELECTIONS`.
//!
//! It also gives async-graphql's own refusals a code: `GRAPHQL_PARSE_FAILED` for a document
//! that does not parse or breaks the nesting or directive limit, `GRAPHQL_VALIDATION_FAILED` for
//! one that does not fit the schema or is too deep or too complex.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    ErrorExtensions as _, Name, Positioned, Request, ServerError, ServerResult, ValidationResult,
    Variables,
};

use crate::error::{
    GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, TOO_MANY_SELECTIONS, with_default_code,
};

/// Refuses documents with more than `max_selections` selections (fields with or without an
/// alias, `__typename` included, fragment spreads and inline fragments), counted with every
/// fragment expanded where it is spread.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_selections: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // Parsed here once; async-graphql takes the parsed document from the request.
        let document = request.parsed_query().map_err(|error| {
            with_default_code(vec![error], GRAPHQL_PARSE_FAILED)
                .pop()
                .unwrap_or_else(|| ServerError::new("the document does not parse", None))
        })?;
        match count_selections(document, self.max_selections) {
            Ok(_) => next.run(ctx, request).await,
            Err(Refused::TooMany) => Err(async_graphql::Error::new(format!(
                "the document selects more than {} fields (fragments expanded, __typename \
                 included)",
                self.max_selections
            ))
            .extend_with(|_, e| e.set("code", TOO_MANY_SELECTIONS))
            .into_server_error(Default::default())),
            Err(Refused::FragmentCycle(name)) => Err(async_graphql::Error::new(format!(
                "fragment `{name}` spreads itself"
            ))
            .extend_with(|_, e| e.set("code", GRAPHQL_VALIDATION_FAILED))
            .into_server_error(Default::default())),
        }
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|error| {
            with_default_code(vec![error], GRAPHQL_PARSE_FAILED)
                .pop()
                .unwrap_or_else(|| ServerError::new("the document does not parse", None))
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| with_default_code(errors, GRAPHQL_VALIDATION_FAILED))
    }
}

/// Why [`count_selections`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// More selections than the limit.
    TooMany,
    /// A fragment that spreads itself, directly or through others (invalid GraphQL).
    FragmentCycle(String),
}

/// Counts the selections of every operation in `document`, each fragment expanded where it is
/// spread. Each fragment's own count is computed once, so the work is linear in the size of the
/// document whatever the expanded size; counting stops as soon as it passes `limit`.
pub fn count_selections(document: &ExecutableDocument, limit: usize) -> Result<usize, Refused> {
    let mut counter = Counter {
        document,
        limit,
        fragments: HashMap::new(),
    };
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        total = total.saturating_add(counter.selection_set(&operation.node.selection_set)?);
        if total > limit {
            return Err(Refused::TooMany);
        }
    }
    Ok(total)
}

/// A fragment's count, or `None` while it is being counted (meeting it again is a cycle).
type FragmentCounts<'a> = HashMap<&'a Name, Option<usize>>;

struct Counter<'a> {
    document: &'a ExecutableDocument,
    limit: usize,
    fragments: FragmentCounts<'a>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<usize, Refused> {
        let mut count = 0usize;
        for selection in &set.node.items {
            let inner = match &selection.node {
                Selection::Field(field) => self.selection_set(&field.node.selection_set)?,
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node)?
                }
            };
            count = count.saturating_add(1).saturating_add(inner);
            if count > self.limit {
                return Err(Refused::TooMany);
            }
        }
        Ok(count)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<usize, Refused> {
        match self.fragments.get(name) {
            Some(Some(count)) => return Ok(*count),
            Some(None) => return Err(Refused::FragmentCycle(name.to_string())),
            None => {}
        }
        // An unknown fragment counts nothing here; validation refuses it.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(0);
        };
        self.fragments.insert(name, None);
        let count = self.selection_set(&fragment.node.selection_set)?;
        self.fragments.insert(name, Some(count));
        Ok(count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn count(query: &str) -> Result<usize, Refused> {
        count_selections(&parse_query(query).unwrap(), 1000)
    }

    #[test]
    fn every_field_alias_and_typename_counts() {
        assert_eq!(count("{ a: __typename b: __typename __typename }"), Ok(3));
        assert_eq!(count("{ serverInfo { version backend } }"), Ok(3));
    }

    #[test]
    fn fragments_count_at_each_spread_and_spreads_count_too() {
        let query = "{ ...F ...F } fragment F on Query { a b }";
        assert_eq!(count(query), Ok(2 * (1 + 2)));
        let query = "{ ... on Query { a } }";
        assert_eq!(count(query), Ok(2));
    }

    #[test]
    fn fragments_that_double_at_each_level_are_refused_without_expanding_them() {
        let mut query = String::from("query { ...F30 } fragment F0 on Query { __typename }");
        for level in 1..=30 {
            let below = level - 1;
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{below} ...F{below} }}"
            ));
        }
        let document = parse_query(&query).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(count_selections(&document, 1000), Err(Refused::TooMany));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }

    #[test]
    fn a_fragment_cycle_is_refused() {
        let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(matches!(count(query), Err(Refused::FragmentCycle(_))));
    }

    #[test]
    fn a_count_just_over_the_limit_is_refused() {
        let fields = vec!["__typename"; 1001].join(" ");
        assert_eq!(count(&format!("{{ {fields} }}")), Err(Refused::TooMany));
        let fields = vec!["__typename"; 1000].join(" ");
        assert_eq!(count(&format!("{{ {fields} }}")), Ok(1000));
    }
}
