//! What a cached answer is filed under, and which slot of the catalog it depends on.

use std::collections::HashMap;

use api::coherence::Slot;
use axum::extract::Query;
use axum::http::{Method, Uri};

/// A cacheable read: the route and the parameters its handler uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    /// `GET /books` (`None`) or `GET /books?topic=T`.
    Books(Option<String>),
    /// `GET /books/{id}`.
    Book(u64),
    /// `GET /search?topic=T` (legacy).
    LegacySearch(String),
    /// `GET /lookup?item=N` (legacy).
    LegacyLookup(u64),
}

impl CacheKey {
    /// The key of a request, if it is a cacheable read with well-formed parameters (anything
    /// else goes to its handler, which answers errors).
    pub(crate) fn of(method: &Method, uri: &Uri) -> Option<Self> {
        if method != Method::GET {
            return None;
        }
        let path = uri.path();
        // The same parser as the handlers' `Query` extractor, so equal keys mean equal answers.
        let params = || {
            Query::<HashMap<String, String>>::try_from_uri(uri)
                .ok()
                .map(|Query(p)| p)
        };
        // A topic the handler refuses (too long) is never a key: its 400 is not cached.
        let topic = |t: String| api::book::check_topic(&t).is_ok().then_some(t);
        match path {
            "/books" => Some(Self::Books(match params()?.remove("topic") {
                Some(t) => Some(topic(t)?),
                None => None,
            })),
            "/search" => Some(Self::LegacySearch(topic(params()?.remove("topic")?)?)),
            "/lookup" => Some(Self::LegacyLookup(id(params()?.get("item")?)?)),
            _ => Some(Self::Book(id(path.strip_prefix("/books/")?)?)),
        }
    }

    /// Every route a key may have: the templates axum matches (and `/metrics` labels).
    pub(crate) const ROUTES: [&'static str; 4] = ["/books", "/books/{id}", "/search", "/lookup"];

    /// The route template of the read, one of [`CacheKey::ROUTES`].
    pub(crate) fn route(&self) -> &'static str {
        Self::ROUTES[match self {
            Self::Books(_) => 0,
            Self::Book(_) => 1,
            Self::LegacySearch(_) => 2,
            Self::LegacyLookup(_) => 3,
        }]
    }

    /// Bytes the key holds on the heap (its topic), for the cache's weigher.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Self::Books(Some(topic)) | Self::LegacySearch(topic) => topic.len(),
            Self::Books(None) | Self::Book(_) | Self::LegacyLookup(_) => 0,
        }
    }

    /// The part of the catalog the answer shows.
    pub(crate) fn slot(&self) -> Slot {
        match self {
            Self::Books(None) => Slot::AllBooks,
            Self::Books(Some(topic)) | Self::LegacySearch(topic) => Slot::Topic(topic.clone()),
            Self::Book(id) | Self::LegacyLookup(id) => Slot::Book(*id),
        }
    }

    /// Every key whose answer shows `slot` (none for [`Slot::Everything`]: that clears all).
    pub(crate) fn showing(slot: &Slot) -> Vec<Self> {
        match slot {
            Slot::Everything => Vec::new(),
            Slot::AllBooks => vec![Self::Books(None)],
            Slot::Book(id) => vec![Self::Book(*id), Self::LegacyLookup(*id)],
            Slot::Topic(topic) => vec![
                Self::Books(Some(topic.clone())),
                Self::LegacySearch(topic.clone()),
            ],
        }
    }
}

fn id(raw: &str) -> Option<u64> {
    api::parse_id("id", raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> Option<CacheKey> {
        CacheKey::of(&Method::GET, &uri.parse().unwrap())
    }

    #[test]
    fn reads_are_keyed_by_route_and_the_parameters_their_handlers_use() {
        assert_eq!(key("/books"), Some(CacheKey::Books(None)));
        assert_eq!(
            key("/books?topic=a%20b&x=1"),
            Some(CacheKey::Books(Some("a b".into())))
        );
        assert_eq!(key("/books/7"), Some(CacheKey::Book(7)));
        assert_eq!(
            key("/search?topic=ds"),
            Some(CacheKey::LegacySearch("ds".into()))
        );
        assert_eq!(key("/lookup?item=3"), Some(CacheKey::LegacyLookup(3)));
        for uncacheable in [
            "/books/0",
            "/books/x",
            "/search",
            "/lookup?item=-1",
            "/orders/1",
            "/books/1/x",
            "/books/+1",
            "/books/01",
            "/lookup?item=01",
        ] {
            assert_eq!(key(uncacheable), None, "{uncacheable}");
        }
        let long = "t".repeat(api::book::TOPIC_BYTES_MAX + 1);
        for uncacheable in [
            format!("/books?topic={long}"),
            format!("/search?topic={long}"),
        ] {
            assert_eq!(key(&uncacheable), None, "{uncacheable}");
        }
        assert_eq!(
            CacheKey::of(&Method::POST, &"/books".parse().unwrap()),
            None
        );
    }

    #[test]
    fn every_key_is_among_those_showing_its_slot() {
        for k in [
            CacheKey::Books(None),
            CacheKey::Books(Some("t".into())),
            CacheKey::Book(4),
            CacheKey::LegacySearch("t".into()),
            CacheKey::LegacyLookup(4),
        ] {
            assert!(CacheKey::showing(&k.slot()).contains(&k), "{k:?}");
        }
    }
}
