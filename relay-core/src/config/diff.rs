//! What a reload changes: the parts applied at once (access, limits) and
//! the parts that only a restart applies (listeners, shards, backend),
//! each in words for the log.

use std::fmt::Display;

use super::Config;

/// A reload's effect, one line per setting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Applied to the running relay.
    pub applied: Vec<String>,
    /// Changed in the file, kept as running until a restart.
    pub need_restart: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.need_restart.is_empty()
    }
}

fn opt<T: Display>(v: Option<T>, none: &str) -> String {
    v.map_or_else(|| none.to_owned(), |v| v.to_string())
}

pub(super) fn changes(old: &Config, new: &Config) -> Changes {
    let mut c = Changes::default();
    let note = |list: &mut Vec<String>, what: &str, a: String, b: String| {
        if a != b {
            list.push(format!("{what} {a} -> {b}"));
        }
    };
    if old.access != new.access {
        let (a, b) = (old.access.to_string(), new.access.to_string());
        if a == b {
            c.applied.push(format!("access: {b} (entries changed)"));
        } else {
            c.applied.push(format!("access: {a} -> {b}"));
        }
    }
    let (po, pn) = (old.policy(), new.policy());
    let rate = |p: &super::Policy| {
        opt(
            p.rx_limit(crate::proto::Family::V035)
                .map(|l| format!("{} B/s (burst {})", l.bytes_per_second, l.burst_bytes)),
            "unlimited",
        )
    };
    note(&mut c.applied, "limits.client.rx:", rate(&po), rate(&pn));
    let accept = |p: &super::Policy| {
        opt(
            p.accept_limit.map(|(r, b)| format!("{r}/s (burst {b})")),
            "unlimited",
        )
    };
    note(
        &mut c.applied,
        "limits.accept_conn_limit:",
        accept(&po),
        accept(&pn),
    );
    note(
        &mut c.applied,
        "limits.max_queued_bytes:",
        po.max_queued_bytes.to_string(),
        pn.max_queued_bytes.to_string(),
    );
    let restart = &mut c.need_restart;
    note(
        restart,
        "http_bind_addr:",
        old.http_bind_addr.to_string(),
        new.http_bind_addr.to_string(),
    );
    note(
        restart,
        "STUN:",
        opt(old.stun_bind_addr, "off"),
        opt(new.stun_bind_addr, "off"),
    );
    note(
        restart,
        "metrics:",
        opt(old.metrics_bind_addr, "off"),
        opt(new.metrics_bind_addr, "off"),
    );
    note(
        restart,
        "shards:",
        old.shards.to_string(),
        new.shards.to_string(),
    );
    note(
        restart,
        "io_backend:",
        old.io_backend.name().to_owned(),
        new.io_backend.name().to_owned(),
    );
    c
}

#[cfg(test)]
mod tests {
    use crate::config::ConfigFile;

    fn config(text: &str) -> super::Config {
        ConfigFile::parse(text).unwrap().resolve(false).unwrap()
    }

    const BASE: &str = "http_bind_addr = \"127.0.0.1:3340\"\nshards = 2\nenable_stun = false\n\
                        enable_metrics = false\n[limits]\nmax_queued_bytes = 67108864\n";
    const KEY: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

    #[test]
    fn nothing_changed() {
        assert!(config(BASE).changes(&config(BASE)).is_empty());
    }

    #[test]
    fn applied_and_restart() {
        let new = format!(
            "http_bind_addr = \"127.0.0.1:3341\"\nshards = 1\nenable_stun = false\n\
             enable_metrics = false\naccess.allowlist = [\"{KEY}\"]\n[limits]\n\
             max_queued_bytes = 67108864\n[limits.client.rx]\nbytes_per_second = 1000\n"
        );
        let c = config(BASE).changes(&config(&new));
        assert_eq!(
            c.applied,
            [
                "access: everyone -> allowlist of 1 key",
                "limits.client.rx: unlimited -> 1000 B/s (burst 1000)",
            ]
        );
        assert_eq!(
            c.need_restart,
            [
                "http_bind_addr: 127.0.0.1:3340 -> 127.0.0.1:3341",
                "shards: 2 -> 1"
            ]
        );
        let mut running = config(BASE);
        running.apply_reloadable(&config(&new));
        assert_eq!(running.http_bind_addr.port(), 3340);
        assert_eq!(running.access.mode(), "allowlist");
    }

    #[test]
    fn same_size_list_with_other_keys() {
        let other: String = ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let a = config(&format!("{BASE}[access]\ndenylist = [\"{KEY}\"]\n"));
        let b = config(&format!("{BASE}[access]\ndenylist = [\"{other}\"]\n"));
        assert_eq!(
            a.changes(&b).applied,
            ["access: denylist of 1 key (entries changed)"]
        );
    }
}
