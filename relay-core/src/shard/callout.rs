//! The HTTP access callout: `POST <url>` with `X-Iroh-NodeId: <hex>` (and
//! 1.4's `X-Iroh-Endpoint-Id`) and an optional bearer token; allowed only on
//! 200 with body `true`. Runs on the blocking pool with a timeout so a
//! dead endpoint cannot hang handshakes.

use std::time::Duration;

use crate::access::{AccessConfig, Decision};
use crate::logging::Throttle;
use crate::proto::key::NodeKey;

/// How long a callout may take before the key is denied.
pub const CALLOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Callout failures are logged once, then summarised every 10 s.
static FAILURES: Throttle = Throttle::new(Duration::from_secs(10));

/// Environment variable overriding the configured bearer token.
pub const TOKEN_ENV: &str = "IROH_RELAY_HTTP_BEARER_TOKEN";

pub async fn ask(access: &AccessConfig, key: &NodeKey) -> Decision {
    let AccessConfig::Http(http) = access else {
        return access.decide_local(key, None).unwrap_or(Decision::Deny);
    };
    let url = http.url.clone();
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .or_else(|| http.bearer_token.clone());
    let node_id: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let call = tokio::task::spawn_blocking(move || post(&url, &node_id, token.as_deref()));
    match tokio::time::timeout(CALLOUT_TIMEOUT + Duration::from_secs(1), call).await {
        Ok(Ok(d)) => d,
        _ => {
            FAILURES.hit(|more| {
                tracing::warn!("access callout did not answer in time; denying (and {more} more failures in the last 10 s)")
            });
            Decision::Deny
        }
    }
}

fn post(url: &str, node_id: &str, token: Option<&str>) -> Decision {
    let agent = ureq::AgentBuilder::new().timeout(CALLOUT_TIMEOUT).build();
    // 0.35 sends X-Iroh-NodeId, 1.4 also X-Iroh-Endpoint-Id: send both.
    let mut req = agent
        .post(url)
        .set("X-Iroh-NodeId", node_id)
        .set("X-Iroh-Endpoint-Id", node_id);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.call() {
        Ok(resp) if resp.status() == 200 => match resp.into_string() {
            Ok(body) if body == "true" => Decision::Allow,
            Ok(body) => {
                tracing::debug!(node_id, "access callout denied: body {body:?}");
                Decision::Deny
            }
            Err(e) => {
                FAILURES.hit(|more| {
                    tracing::warn!(
                        "access callout body: {e} (and {more} more failures in the last 10 s)"
                    )
                });
                Decision::Deny
            }
        },
        Ok(resp) => {
            tracing::debug!(node_id, status = resp.status(), "access callout denied");
            Decision::Deny
        }
        Err(ureq::Error::Status(status, _)) => {
            tracing::debug!(node_id, status, "access callout denied");
            Decision::Deny
        }
        Err(e) => {
            FAILURES.hit(|more| {
                tracing::warn!(
                    "access callout failed: {e} (and {more} more failures in the last 10 s)"
                )
            });
            Decision::Deny
        }
    }
}
