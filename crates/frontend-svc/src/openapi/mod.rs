//! The public API's OpenAPI 3.1 description (#17). Each route's operation is declared on its
//! handler (`#[utoipa::path]`) and registered with it by [`crate::router`]'s `OpenApiRouter`,
//! so a route and its description cannot drift apart; this file holds what every operation
//! shares: the document's head, the admin token's security scheme, and the errors the tower
//! stack gives on any route (408, 413, 414, 429, 431, 503), which no handler sees.
//!
//! The document is served at `GET /openapi.json` and checked in as `docs/openapi.json`; a
//! test keeps the two equal (`PYGMY_BLESS_OPENAPI=1` rewrites the file).

use api::ErrorBody;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem, Paths};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

/// Name of the admin token's security scheme, as operations cite it.
pub(crate) const ADMIN_TOKEN: &str = "admin_token";

/// Errors the frontend's stack may answer on any route of the public API, before or around
/// its handler: (status, when).
const STACK_ERRORS: &[(&str, &str)] = &[
    (
        "408",
        "`body_timeout`: the body did not arrive within the body deadline; nothing was applied",
    ),
    ("413", "`payload_too_large`: the body is over 16 KiB"),
    ("414", "`uri_too_long`: path and query are over 4 KiB"),
    (
        "429",
        "`overloaded`: too many requests in flight; retry after `Retry-After`",
    ),
    ("431", "`headers_too_large`: the request head is too large"),
    (
        "503",
        "`timeout` (the request deadline passed: a write may have applied), `no_leader` \
         (nothing applied) or `outcome_unknown` (a write may have applied); retry after \
         `Retry-After`, a buy with the same `Idempotency-Key`",
    ),
];

/// The shared part of the description; [`crate::router`] adds every operation.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Pygmy",
        description = "The public API of the Pygmy bookstore's frontend: books, orders, the \
                       original Flask routes, and the cluster's state. Errors are \
                       `{\"error\": {\"code\", \"message\"}}`; see the README's \"Public API\".",
        license(name = "MIT")
    ),
    components(schemas(ErrorBody)),
    modifiers(&AdminTokenScheme, &StackErrors),
    tags(
        (name = "books", description = "Catalog reads (cached by the frontend, never stale)"),
        (name = "orders", description = "Buys, exactly once per `Idempotency-Key`, and orders"),
        (name = "admin", description = "Restock and reprice, behind the admin token"),
        (name = "legacy", description = "The original Flask routes, byte-compatible"),
        (name = "operations", description = "Health, readiness, metrics, the cluster, this document")
    )
)]
struct Head;

/// The head of the description, before any operation is added.
pub(crate) fn head() -> OpenApi {
    Head::openapi()
}

/// Adds the bearer scheme of the admin token.
struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Registers [`STACK_ERRORS`] as shared responses; [`finish`] cites them from each operation.
struct StackErrors;

impl Modify for StackErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, when) in STACK_ERRORS {
            components.responses.insert(
                stack_error_name(status),
                RefOr::T(error_response(status, when)),
            );
        }
    }
}

/// The name under `components/responses` of the stack's `status` answer.
fn stack_error_name(status: &str) -> String {
    format!("stack_{status}")
}

/// An error answer with the JSON error body (and `Retry-After` where the client should wait).
pub(crate) fn error_response(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if matches!(status, "429" | "503") {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(u64_schema())
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response.build()
}

fn u64_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(0))
        .build()
}

/// Cites the stack's errors from every operation that does not describe that status itself.
pub(crate) fn finish(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            for (status, _) in STACK_ERRORS {
                operation
                    .responses
                    .responses
                    .entry((*status).to_string())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!(
                            "#/components/responses/{}",
                            stack_error_name(status)
                        )))
                    });
            }
        }
    }
    openapi
}

/// Describes what a catalog read gains from the conditional-GET and cache layers the router
/// wraps it in: `If-None-Match`, `304`, and the `ETag` and `x-pygmy-cache` of its answer.
pub(crate) fn describe_catalog_read(paths: &mut Paths) {
    for item in paths.paths.values_mut() {
        for operation in operations_mut(item) {
            operation.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("If-None-Match")
                    .parameter_in(ParameterIn::Header)
                    .description(Some(
                        "ETags of copies the client holds; the current one gets `304`",
                    ))
                    .schema(Some(string_schema()))
                    .build(),
            );
            if let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") {
                ok.headers.insert(
                    "ETag".into(),
                    HeaderBuilder::new()
                        .schema(string_schema())
                        .description(Some(
                            "The catalog log index the answer was read at, as `\"c<index>\"`",
                        ))
                        .build(),
                );
                ok.headers.insert(
                    "x-pygmy-cache".into(),
                    HeaderBuilder::new()
                        .schema(string_schema())
                        .description(Some(
                            "`hit` or `miss`: whether the frontend's cache answered",
                        ))
                        .build(),
                );
            }
            operation.responses.responses.insert(
                "304".into(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description("`If-None-Match` names the current ETag: the copy is fresh")
                        .build(),
                ),
            );
        }
    }
}

fn string_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .build()
}

/// Every operation of a path item.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The description as served: rendered once, shared by every request.
#[derive(Clone)]
pub(crate) struct Rendered(pub(crate) Bytes);

impl Rendered {
    /// `openapi` as pretty JSON.
    pub(crate) fn of(openapi: &OpenApi) -> Self {
        let json = openapi
            .to_pretty_json()
            .expect("an OpenAPI document always serializes");
        Self(Bytes::from(json))
    }
}

/// This description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn document(Extension(rendered): Extension<Rendered>) -> impl IntoResponse {
    // A `Bytes` clone shares the rendered document: no copy per request.
    ([(CONTENT_TYPE, "application/json")], rendered.0)
}

#[cfg(test)]
mod tests;
