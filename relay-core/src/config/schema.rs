//! The keys each table of the config knows, for the hint beside an
//! unknown key: a near spelling, or the table the key belongs in.
//! Whether a key is unknown is decided by the parser itself (`load`);
//! a test checks that every key listed here parses.

/// (table, its keys); `""` is the top level.
pub(super) const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "enable_relay",
            "http_bind_addr",
            "enable_stun",
            "stun_bind_addr",
            "enable_quic_addr_discovery",
            "enable_metrics",
            "metrics_bind_addr",
            "key_cache_capacity",
            "access",
            "tls",
            "limits",
            "shards",
            "io_backend",
        ],
    ),
    (
        "tls",
        &[
            "https_bind_addr",
            "quic_bind_addr",
            "hostname",
            "cert_mode",
            "cert_dir",
            "manual_cert_path",
            "manual_key_path",
            "prod_tls",
            "contact",
            "dangerous_http_only",
        ],
    ),
    (
        "limits",
        &[
            "accept_conn_limit",
            "accept_conn_burst",
            "client",
            "max_queued_bytes",
        ],
    ),
    ("limits.client", &["rx"]),
    ("limits.client.rx", &["bytes_per_second", "max_burst_bytes"]),
    ("access.http", &["url", "bearer_token"]),
];

/// A hint for the unknown key at `path` (table names, then the key).
pub(super) fn hint(path: &[String]) -> Option<String> {
    let (leaf, parent) = path.split_last()?;
    let table = parent.join(".");
    if let Some((_, keys)) = KNOWN.iter().find(|(t, _)| *t == table) {
        if let Some(near) = keys.iter().find(|k| close(leaf, k)) {
            return Some(format!("did you mean {near}?"));
        }
    }
    let (home, _) = KNOWN
        .iter()
        .find(|(t, keys)| *t != table && keys.contains(&leaf.as_str()))?;
    Some(if home.is_empty() {
        format!("{leaf} is a top-level key: put it above the first [table]")
    } else {
        format!("{leaf} belongs in [{home}]")
    })
}

/// Within two edits (insert, delete, replace or swap two neighbours).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Optimal string alignment distance.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn hints() {
        assert_eq!(
            hint(&path("http_bind_adr")).as_deref(),
            Some("did you mean http_bind_addr?")
        );
        assert_eq!(
            hint(&path("enabel_stun")).as_deref(),
            Some("did you mean enable_stun?")
        );
        assert_eq!(
            hint(&path("access.http.shards")).as_deref(),
            Some("shards is a top-level key: put it above the first [table]")
        );
        assert_eq!(
            hint(&path("rx")).as_deref(),
            Some("rx belongs in [limits.client]")
        );
        assert_eq!(hint(&path("flux_capacitor")), None);
    }

    /// Every key listed parses without being reported unknown.
    #[test]
    fn every_listed_key_is_read() {
        let text = r#"
enable_relay = true
http_bind_addr = "[::]:3340"
enable_stun = false
stun_bind_addr = "[::]:3478"
enable_quic_addr_discovery = false
enable_metrics = false
metrics_bind_addr = "127.0.0.1:9092"
key_cache_capacity = 1024
shards = 1
io_backend = "auto"
[access.http]
url = "http://127.0.0.1:1/"
bearer_token = "t"
[tls]
https_bind_addr = "[::]:443"
quic_bind_addr = "[::]:7842"
hostname = "relay.example.org"
cert_mode = "Manual"
cert_dir = "/etc/certs"
manual_cert_path = "/etc/certs/c.pem"
manual_key_path = "/etc/certs/k.pem"
prod_tls = true
contact = "ops@example.org"
dangerous_http_only = true
[limits]
accept_conn_limit = 10.0
accept_conn_burst = 20
max_queued_bytes = 67108864
[limits.client.rx]
bytes_per_second = 1000
max_burst_bytes = 2000
"#;
        let loaded = super::super::parse(text).unwrap();
        assert!(loaded.unknown.is_empty(), "{:?}", loaded.unknown);
        let listed: usize = KNOWN.iter().map(|(_, k)| k.len()).sum();
        // Every listed key but the tables named by the others' paths.
        let tables = ["access", "tls", "limits", "client", "rx"];
        let leaves = text.lines().filter(|l| l.contains(" = ")).count();
        assert_eq!(leaves + tables.len(), listed);
    }
}
