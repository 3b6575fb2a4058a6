//! What every service's OpenAPI description says the same way: the error
//! body, and the answers any operation may give besides its own —
//! screening's (403 `blocked`, 428 `challenge_required`, 429), bad input
//! (400, 413, 415, 422), authentication (401) where a token is needed, 404
//! where the path names something, and 503 when a dependency is down.
//! `modifiers(&ticktak_kit::openapi::StandardResponses)` adds those an
//! operation does not document itself, so clients and fuzzers (schemathesis
//! in `make test`) hold every answer against the description.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::PartialSchema;

use crate::error::ErrorBody;

const ANY: [(&str, &str); 8] = [
    ("400", "malformed request (query, path or body)"),
    ("403", "blocked network (`blocked`), or not allowed"),
    ("413", "body too large"),
    ("415", "the body is not JSON"),
    ("422", "the body does not fit the operation"),
    ("428", "solve a proof-of-work puzzle first (`challenge_required`, see GET /api/challenge)"),
    ("429", "rate limited; see Retry-After"),
    ("503", "a service this operation needs is unavailable; try again"),
];

fn add(op: &mut Operation, code: &str, description: &str) {
    if op.responses.responses.contains_key(code) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
        .build();
    op.responses.responses.insert(code.to_string(), RefOr::T(response));
}

pub struct StandardResponses;

impl utoipa::Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.components.get_or_insert_with(Default::default).schemas.insert("Error".into(), ErrorBody::schema());
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
            ];
            for op in ops.into_iter().flatten() {
                for (code, description) in ANY {
                    add(op, code, description);
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add(op, "401", "no token, or a bad or expired one");
                }
                if path.contains('{') {
                    add(op, "404", "no such thing (or not yours)");
                }
            }
        }
    }
}
