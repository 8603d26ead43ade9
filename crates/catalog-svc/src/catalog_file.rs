//! The books of a fresh catalog: the default of DESIGN.md section 4, or a JSON/TOML file.

use std::path::Path;

use api::Book;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The default catalog.
pub fn default_books() -> Vec<Book> {
    let rows: [(&str, &str, u64); 7] = [
        (
            "How to get a good grade in 677 in 20 minutes a day",
            "ds",
            100,
        ),
        ("RPCs for Dummies", "ds", 200),
        ("Xen and the Art of Surviving Graduate School", "gs", 300),
        ("Cooking for the Impatient Graduate Student", "gs", 400),
        ("How to finish Project 3 on time", "ds", 200),
        ("Why theory classes are so hard", "gs", 300),
        ("Spring in the Pioneer Valley", "gs", 400),
    ];
    (1..)
        .zip(rows)
        .map(|(id, (title, topic, cost))| Book {
            id,
            title: title.to_string(),
            topic: topic.to_string(),
            cost,
            stock: 5,
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    books: Vec<Book>,
}

/// Reads a catalog file (`.json` or `.toml`, a `books` list) and checks it.
///
/// # Errors
/// [`Error::CatalogFile`] naming the file and the problem.
pub fn load_books(path: &Path) -> Result<Vec<Book>> {
    let fail = |reason: String| Error::CatalogFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let parsed: CatalogFile = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?,
        Some("toml") => toml::from_str(&text).map_err(|e| fail(e.to_string()))?,
        _ => return Err(fail("the file name must end in .json or .toml".into())),
    };
    check_books(&parsed.books).map_err(fail)?;
    Ok(parsed.books)
}

/// A catalog needs books with distinct ids from 1, non-empty titles and topics, sane costs.
pub fn check_books(books: &[Book]) -> std::result::Result<(), String> {
    if books.is_empty() {
        return Err("the catalog has no books".into());
    }
    let mut ids: Vec<u64> = books.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != books.len() || ids[0] == 0 {
        return Err("book ids must be distinct and start at 1 or above".into());
    }
    if let Some(b) = books
        .iter()
        .find(|b| b.title.trim().is_empty() || b.topic.trim().is_empty())
    {
        return Err(format!("book {} needs a title and a topic", b.id));
    }
    if let Some(b) = books.iter().find(|b| b.cost > api::book::COST_MAX) {
        return Err(format!(
            "book {} costs more than {}",
            b.id,
            api::book::COST_MAX
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalog_matches_the_design() {
        let books = default_books();
        assert_eq!(books.len(), 7);
        assert_eq!(
            books[2].title,
            "Xen and the Art of Surviving Graduate School"
        );
        assert_eq!(
            (books[2].topic.as_str(), books[2].cost, books[2].stock),
            ("gs", 300, 5)
        );
        check_books(&books).unwrap();
    }

    #[test]
    fn toml_and_json_files_load_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("c.toml");
        std::fs::write(
            &toml_path,
            "[[books]]\nid = 1\ntitle = \"T\"\ntopic = \"x\"\ncost = 3\nstock = 2\n",
        )
        .unwrap();
        assert_eq!(load_books(&toml_path).unwrap()[0].stock, 2);
        let json_path = dir.path().join("c.json");
        std::fs::write(&json_path, r#"{"books": [{"id": 1, "title": "T", "topic": "x", "cost": 3, "stock": 2}, {"id": 1, "title": "U", "topic": "x", "cost": 3, "stock": 2}]}"#).unwrap();
        let e = load_books(&json_path).unwrap_err().to_string();
        assert!(e.contains("c.json") && e.contains("distinct"), "{e}");
        assert!(load_books(&dir.path().join("missing.toml")).is_err());
    }
}
