//! Prometheus text, as every process's `/metrics` renders it: parsed into samples, so that a
//! test reads a series by name and labels instead of searching the text.

use std::collections::BTreeMap;
use std::time::Duration;

/// Timeout of one scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`_bucket`, `_sum`, `_count` included for histograms).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Every sample and HELP text of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    samples: Vec<Sample>,
    help: BTreeMap<String, String>,
}

impl Scrape {
    /// Parses Prometheus text.
    ///
    /// # Panics
    /// A line is not a comment, a blank or a sample (the message quotes it).
    pub fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let (name, text) = help.split_once(' ').unwrap_or((help, ""));
                scrape.help.insert(name.to_string(), text.to_string());
            } else if !line.starts_with('#') {
                let sample = parse_sample(line)
                    .unwrap_or_else(|why| panic!("not a Prometheus sample ({why}): {line}"));
                scrape.samples.push(sample);
            }
        }
        scrape
    }

    /// The HELP text of `name`, if given.
    pub fn help(&self, name: &str) -> Option<&str> {
        self.help.get(name).map(String::as_str)
    }

    /// Every sample of `name` whose labels include `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one sample of `name` whose labels include `labels`; None if there is
    /// none.
    ///
    /// # Panics
    /// Several samples match (the test must name more labels).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.samples(name, labels).collect();
        assert!(
            found.len() <= 1,
            "{name} with {labels:?} matches several samples: {found:?}"
        );
        found.first().map(|s| s.value)
    }
}

/// `GET url` parsed as Prometheus text; None if unreachable or not 200.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Option<Scrape> {
    let response = client.get(url).timeout(SCRAPE_TIMEOUT).send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        return None;
    }
    Some(Scrape::parse(&response.text().await.ok()?))
}

/// `name{a="x",b="y"} value` or `name value`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inside) = rest.strip_prefix('{') {
        rest = parse_labels(inside, &mut labels)?;
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|e| format!("value {v}: {e}"))?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Reads `a="x",b="y"}` into `labels` (values unescaped); what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (key, after_key) = rest.split_once("=\"").ok_or("a label without a value")?;
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = &after_key[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_labels_and_help_are_read_back() {
        // Goal: a route with braces and an escaped quote in a label value, a histogram bucket
        // at +Inf and a bare sample are all read back; HELP texts by name.
        let text = r#"# HELP pygmy_http_requests_total Answers given.
# TYPE pygmy_http_requests_total counter
pygmy_http_requests_total{method="GET",route="/books/{id}",status="200"} 3
pygmy_x{q="a \"b\"",n="1\n2"} 1.5

pygmy_x_bucket{le="+Inf"} 7
pygmy_y 0
"#;
        let scrape = Scrape::parse(text);
        assert_eq!(
            scrape.help("pygmy_http_requests_total"),
            Some("Answers given.")
        );
        let route = [("route", "/books/{id}"), ("status", "200")];
        assert_eq!(scrape.value("pygmy_http_requests_total", &route), Some(3.0));
        assert_eq!(scrape.value("pygmy_x", &[("q", "a \"b\"")]), Some(1.5));
        assert_eq!(scrape.value("pygmy_x", &[("n", "1\n2")]), Some(1.5));
        assert_eq!(scrape.value("pygmy_x_bucket", &[("le", "+Inf")]), Some(7.0));
        assert_eq!(scrape.value("pygmy_y", &[]), Some(0.0));
        assert_eq!(scrape.value("pygmy_z", &[]), None);
    }
}
