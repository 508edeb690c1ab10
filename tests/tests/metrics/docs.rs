//! docs/operating.md's metrics table and the page agree: every metric on
//! the page (in both formats) is in the table, every name in the table is
//! on the page, and each has the kind and labels the table gives.

use std::collections::{BTreeMap, BTreeSet};

use tests::{bounded, openmetrics, skip_on_reference};

use crate::{busy_relay, T};

const OPERATING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operating.md");

/// One row of the table: the metrics it names, their kind and labels.
#[derive(Debug)]
struct Row {
    names: Vec<String>,
    kind: String,
    labels: BTreeSet<String>,
}

/// The `code` spans of a table cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The rows of the table in the "Metrics" section.
fn table() -> Vec<Row> {
    let doc = std::fs::read_to_string(OPERATING).unwrap();
    let section = doc
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/operating.md has a \"## Metrics\" section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let cell = |i: usize| {
                *cells
                    .get(i)
                    .unwrap_or_else(|| panic!("row without column {i}: {line}"))
            };
            Row {
                names: code_spans(cell(1)),
                kind: cell(2).to_owned(),
                labels: code_spans(cell(3)).into_iter().collect(),
            }
        })
        .collect()
}

fn is_metric_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[tokio::test]
async fn operating_md_lists_every_metric() {
    if skip_on_reference("uring-relay's metrics") {
        return;
    }
    let rows = table();
    assert!(rows.len() > 30, "only {} rows: {rows:?}", rows.len());
    let mut documented: BTreeMap<&str, &Row> = BTreeMap::new();
    for row in &rows {
        assert!(!row.names.is_empty(), "{row:?}");
        for name in &row.names {
            assert!(is_metric_name(name), "not spelled out in full: {name:?}");
            assert!(documented.insert(name, row).is_none(), "{name} in two rows");
        }
    }
    bounded(T, async {
        let busy = busy_relay().await;
        let text = openmetrics::scrape_text(busy.metrics).await.unwrap();
        let om = openmetrics::scrape(busy.metrics).await.unwrap();
        let on_page: BTreeSet<String> = text.text_names().into_iter().collect();
        let om_names: BTreeSet<String> = om.text_names().into_iter().collect();
        assert_eq!(on_page, om_names, "the two formats name different metrics");

        let undocumented: Vec<&String> = on_page
            .iter()
            .filter(|n| !documented.contains_key(n.as_str()))
            .collect();
        assert!(
            undocumented.is_empty(),
            "not in the table: {undocumented:?}"
        );
        let absent: Vec<&&str> = documented
            .keys()
            .filter(|n| !on_page.contains(**n))
            .collect();
        assert!(
            absent.is_empty(),
            "in the table, not on the page: {absent:?}"
        );

        for family in &text.families {
            let row = documented[family.name.as_str()];
            assert_eq!(row.kind, family.kind, "{}: kind", family.name);
            let labels: BTreeSet<String> = text
                .samples
                .iter()
                .filter(|s| s.family == family.name)
                .flat_map(|s| s.labels.iter().map(|(k, _)| k.clone()))
                .filter(|k| k != "le")
                .collect();
            assert_eq!(labels, row.labels, "{}: labels", family.name);
        }
    })
    .await
}
