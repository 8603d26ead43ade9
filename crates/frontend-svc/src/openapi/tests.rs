use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::testutil::{send, Harness};

/// OpenAPI 3.1's own JSON Schema (the OpenAPI Initiative's, 2022-10-07, Apache-2.0), as the
/// `openapi-spec-validator` package ships it.
const OAS_3_1_SCHEMA: &str = include_str!("oas-3.1-schema.json");

/// Routes the frontend serves that are not the public API: the catalog leader's cache
/// notices, refused without the cluster token.
const INTERNAL_ROUTES: &[&str] = &[api::coherence::NOTICE_PATH];

/// Methods a route may be given; HEAD is answered with GET by axum (and 405 on `/buy`).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn description() -> Value {
    serde_json::to_value(crate::openapi()).unwrap()
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every (method, path template) the description lists.
fn described(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(method))
            {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Whether `path` (concrete) fits `template` (`{name}` matches one segment).
fn fits(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

#[test]
fn the_description_is_a_valid_openapi_3_1_document_with_valid_schemas() {
    // Goal: the served document validates against OpenAPI 3.1's schema, and each component
    // schema is valid JSON Schema 2020-12 (which the OpenAPI schema leaves unchecked).
    let doc = description();
    let oas: Value = serde_json::from_str(OAS_3_1_SCHEMA).unwrap();
    let validator = jsonschema::draft202012::new(&oas).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(
            jsonschema::meta::is_valid(schema),
            "schema {name} is not valid JSON Schema: {schema}"
        );
    }
    // The validator must be able to fail: a document without `info` is refused.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn operation_ids_are_unique() {
    // Goal: clients generated from the description get one function per operation.
    let doc = description();
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
    assert_eq!(ids.len(), described(&doc).len());
}

#[test]
fn every_security_requirement_and_reference_names_something_defined() {
    // Goal: no operation cites a security scheme, schema or response the components lack.
    let doc = description();
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let reference = &reference[..reference.find('"').unwrap()];
        let pointer = reference.strip_prefix('#').expect("only local references");
        assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.get(scheme).is_some(), "undefined scheme {scheme}");
                }
            }
        }
    }
    assert!(schemes.get(super::ADMIN_TOKEN).is_some());
}

#[test]
fn the_checked_in_description_is_the_served_one() {
    // Goal: docs/openapi.json is what the code serves; PYGMY_BLESS_OPENAPI=1 rewrites it.
    let path = crate_dir().join("../../docs/openapi.json");
    let rendered = super::Rendered::of(&crate::openapi()).0;
    let served = String::from_utf8(rendered.to_vec()).unwrap() + "\n";
    if std::env::var_os("PYGMY_BLESS_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == served,
        "{} differs from the description the frontend serves: rerun with \
         PYGMY_BLESS_OPENAPI=1 cargo test -p frontend-svc openapi, and commit the file",
        path.display()
    );
}

#[tokio::test]
async fn openapi_json_serves_the_description() {
    let h = Harness::start().await;
    let answer = send(&h.app, crate::testutil::get_req("/openapi.json")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json(), description());
}

/// Every string literal that starts with `/` in this crate's sources, up to any `?`, with
/// `{name}` segments made concrete: the candidates for routes.
fn path_literals(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            path_literals(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("\"/").skip(1) {
                let end = piece
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "/_-.{}".contains(c)))
                    .unwrap_or(piece.len());
                let literal: Vec<String> = piece[..end]
                    .split('/')
                    .map(|s| match s.starts_with('{') {
                        true => "1".to_string(),
                        false => s.to_string(),
                    })
                    .collect();
                found.insert(format!("/{}", literal.join("/")));
            }
        }
    }
}

#[tokio::test]
async fn every_route_the_router_answers_is_described() {
    // Goal: a route added without its OpenAPI operation fails here. Every path literal in the
    // crate is asked with every method; an answer other than the router's own 404 ("no such
    // route") or 405 means the route exists, and the description must list it.
    let doc = description();
    let operations = described(&doc);
    let mut candidates = BTreeSet::new();
    path_literals(&crate_dir().join("src"), &mut candidates);
    candidates.extend(INTERNAL_ROUTES.iter().map(|p| p.to_string()));
    assert!(candidates.len() > 20, "{candidates:?}");
    let h = Harness::start().await;
    let mut answered = BTreeSet::new();
    for path in &candidates {
        for method in &METHODS {
            let req = Request::builder()
                .method(method)
                .uri(path.as_str())
                .body(Body::empty())
                .unwrap();
            let answer = send(&h.app, req).await;
            let no_route = answer.status == StatusCode::NOT_FOUND
                && answer.json()["error"]["message"] == "no such route";
            if no_route || answer.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            if INTERNAL_ROUTES.contains(&path.as_str()) {
                continue;
            }
            let found = operations
                .iter()
                .find(|(m, template)| m == method.as_str() && fits(template, path));
            assert!(
                found.is_some(),
                "{method} {path} answers {} but the OpenAPI description lacks it",
                answer.status
            );
            answered.insert(found.unwrap().clone());
        }
    }
    // And the other way: every described operation was found answering.
    assert_eq!(answered, operations);
}

#[test]
fn the_readme_lists_every_described_route_and_no_other() {
    // Goal: the README's route table and the description name the same operations.
    let readme = std::fs::read_to_string(crate_dir().join("../../README.md")).unwrap();
    let table = readme
        .split("| route | answer |")
        .nth(1)
        .expect("the README has its route table")
        .split("\n\n")
        .next()
        .unwrap();
    let mut listed = BTreeSet::new();
    for piece in table.split('`').skip(1).step_by(2) {
        let Some((method, path)) = piece.split_once(' ') else {
            continue;
        };
        if METHODS.iter().any(|m| m.as_str() == method) && path.starts_with('/') {
            let path = path.split(['?', ' ']).next().unwrap();
            listed.insert((method.to_string(), path.to_string()));
        }
    }
    assert_eq!(listed, described(&description()));
}
