//! A resolved config held against the machine it will run on: what would
//! fail at start (errors) and what would run but is likely a mistake
//! (warnings). `check-config` and a start both run it.

use std::net::SocketAddr;

use super::Config;
use crate::access::AccessConfig;

/// More shards than this is never a sensible relay.
pub const MAX_SHARDS: usize = 1024;
/// Descriptors a shard holds for itself (listener, ring or epoll,
/// eventfds, its inbox), before any client; measured, with room.
pub const FDS_PER_SHARD: u64 = 8;
/// Descriptors the process holds besides its shards.
pub const FDS_BASE: u64 = 64;

/// What the checks need to know of the machine.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    pub cores: usize,
    /// The hard `RLIMIT_NOFILE` the relay can raise itself to.
    pub fd_hard_limit: Option<u64>,
}

impl Host {
    pub fn current() -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fd_hard_limit: crate::fdlimit::get().ok().map(|(_, hard)| hard),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Review {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn review(c: &Config, host: &Host) -> Review {
    let mut r = Review::default();
    if let Some(m) = c.metrics_bind_addr {
        if clash(c.http_bind_addr, m) {
            r.errors.push(format!(
                "metrics_bind_addr {m} and http_bind_addr {} are the same port: give metrics its own (e.g. 127.0.0.1:9092)",
                c.http_bind_addr
            ));
        }
    }
    if let Some(hard) = host.fd_hard_limit {
        let own = FDS_BASE + FDS_PER_SHARD * c.shards as u64;
        if own > hard {
            r.errors.push(format!(
                "shards = {} needs {own} open files before any client, above the hard limit of {hard} (LimitNOFILE= in systemd, ulimit -Hn)",
                c.shards
            ));
        } else if hard < crate::fdlimit::wanted(c.shards) {
            r.warnings.push(format!(
                "the open files hard limit is {hard}: about {} clients at most (10000 need {}; raise LimitNOFILE=)",
                hard - own,
                crate::fdlimit::wanted(c.shards)
            ));
        }
    }
    if c.shards > host.cores {
        r.warnings.push(format!(
            "shards = {} on {} cores: shards beyond the core count only add threads taking turns on the same cores (the default is one per core)",
            c.shards, host.cores
        ));
    }
    if c.tls_ignored {
        r.warnings
            .push("--dev ignores [tls]: serving plain HTTP".to_owned());
    }
    match &c.access {
        AccessConfig::SharedToken(_) => r.warnings.push(
            "access.shared_token admits only iroh 1.x clients that send the token: iroh 0.35 clients (Delta Chat today) cannot send one and are all refused"
                .to_owned(),
        ),
        AccessConfig::Allowlist(keys) if keys.is_empty() => r
            .warnings
            .push("access.allowlist is empty: no client is admitted".to_owned()),
        _ => {}
    }
    r
}

/// Two TCP listeners that cannot both bind: the same port on the same
/// address, or on any address when one is unspecified.
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The listeners a start opens, in words.
pub fn listeners(c: &Config) -> Vec<String> {
    let mut out = vec![format!(
        "relay (iroh 0.35 and 1.x) on http://{}",
        c.http_bind_addr
    )];
    if let Some(s) = c.stun_bind_addr {
        out.push(format!("STUN on udp {s}"));
    }
    if let Some(m) = c.metrics_bind_addr {
        out.push(format!("metrics on http://{m}/metrics"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    fn config(text: &str) -> Config {
        ConfigFile::parse(text).unwrap().resolve(false).unwrap()
    }

    const HOST: Host = Host {
        cores: 2,
        fd_hard_limit: Some(65536),
    };

    #[test]
    fn clean_config_has_nothing_to_say() {
        let c = config(
            "http_bind_addr = \"[::]:3340\"\nmetrics_bind_addr = \"127.0.0.1:9092\"\nshards = 2\n",
        );
        assert_eq!(review(&c, &HOST), Review::default());
        assert_eq!(
            listeners(&c),
            [
                "relay (iroh 0.35 and 1.x) on http://[::]:3340",
                "STUN on udp [::]:3478",
                "metrics on http://127.0.0.1:9092/metrics"
            ]
        );
    }

    #[test]
    fn address_clash() {
        for (relay, metrics) in [
            ("[::]:3340", "127.0.0.1:3340"),
            ("127.0.0.1:3340", "127.0.0.1:3340"),
            ("127.0.0.1:3340", "[::]:3340"),
        ] {
            let c = config(&format!(
                "http_bind_addr = \"{relay}\"\nmetrics_bind_addr = \"{metrics}\"\nshards = 1\n"
            ));
            let r = review(&c, &HOST);
            assert_eq!(r.errors.len(), 1, "{relay} {metrics}: {r:?}");
            assert!(r.errors[0].contains("same port"));
        }
        let c = config("http_bind_addr = \"127.0.0.1:3340\"\nmetrics_bind_addr = \"127.0.0.2:3340\"\nshards = 1\n");
        assert!(review(&c, &HOST).errors.is_empty());
    }

    #[test]
    fn shards_against_the_machine() {
        let c = config("shards = 64\nenable_metrics = false\n");
        let r = review(&c, &HOST);
        assert!(r.errors.is_empty());
        assert!(r.warnings[0].contains("shards = 64 on 2 cores"), "{r:?}");
        let small = Host {
            cores: 2,
            fd_hard_limit: Some(1024),
        };
        let c = config("shards = 1000\nenable_metrics = false\n");
        let r = review(&c, &small);
        assert!(
            r.errors[0].contains("above the hard limit of 1024"),
            "{r:?}"
        );
        let c = config("shards = 2\nenable_metrics = false\n");
        let r = review(&c, &small);
        assert!(r.warnings[0].contains("hard limit is 1024"), "{r:?}");
    }

    #[test]
    fn access_warnings() {
        let c = config("access.shared_token = [\"t\"]\nshards = 1\nenable_metrics = false\n");
        assert!(review(&c, &HOST).warnings[0].contains("0.35 clients"));
        let c = config("access.allowlist = []\nshards = 1\nenable_metrics = false\n");
        assert!(review(&c, &HOST).warnings[0].contains("no client is admitted"));
        let c = ConfigFile::parse("shards = 1\n[tls]\ncert_mode = \"Manual\"\n")
            .unwrap()
            .resolve(true)
            .unwrap();
        assert!(c.tls_ignored);
    }
}
