//! Joining and leaving a shard: registration in the key's family
//! registry, duplicate keys (0.35 closes the older connection, 1.x keeps
//! it inactive and tells it so), and telling peers a key is gone.

use std::rc::Rc;

use super::io::Stream;

use super::client::{Client, CloseReason};
use super::registry::{Inserted, Removed};
use super::setup::Handshaken;
use super::state::Shard;
use crate::proto::{Datagram, ServerFrame, Status};
use crate::router::RecordKind;

impl Shard {
    /// Registers a handshaken connection owned by this shard and starts
    /// its tasks; `confirm` (the handshake's last word) is its first
    /// output, so nothing sent to it after this point is lost.
    pub(super) fn register(self: &Rc<Self>, stream: Stream, h: Handshaken) {
        let Handshaken {
            session,
            leftover,
            confirm,
        } = h;
        if self.shutting_down.get() {
            stream.shutdown();
            return;
        }
        let Some((key, dialect)) = session.key().copied().zip(session.dialect()) else {
            stream.shutdown();
            return;
        };
        // Admitted under an access list that a reload has since changed
        // (on the way over from another shard): held to the new one.
        if self.revoked(&key, session.token()) {
            self.fm(dialect.family()).access_revoked.inc();
            stream.shutdown();
            return;
        }
        let stream = match (&self.ring, stream) {
            (Some(_), s) => match s.into_ring() {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("cannot hand a connection to the shard ring: {e}");
                    return;
                }
            },
            (None, s) => s,
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let Some(client) = Client::new(id, stream, session, self.pool.clone(), self.budget.clone())
        else {
            return;
        };
        let client = Rc::new(client);
        if let Some(bytes) = &confirm {
            client.enqueue_raw(bytes);
        }
        let family = client.family;
        client.set_rx_limit(self.policy.borrow().rx_limit(family));
        self.sweep_list.borrow_mut().push(Rc::downgrade(&client));
        let inserted = self.registry(family).borrow_mut().insert(client.clone());
        let fm = self.fm(family);
        match inserted {
            Inserted::Fresh => {}
            Inserted::Replaced(old) => {
                old.close(CloseReason::Replaced, &self.metrics);
                fm.replaced.inc();
            }
            Inserted::Demoted(old) => {
                old.enqueue_frame(&ServerFrame::Status(Status::SameEndpointIdConnected));
                fm.clients_inactive_added.inc();
            }
        }
        tracing::debug!(
            shard = self.id,
            client = %crate::proto::key::short_hex(&client.key),
            %dialect,
            "registered"
        );
        fm.accepts.inc();
        fm.unique_client_keys.inc();
        self.update_client_gauge(family);
        match &self.ring {
            Some(ring) => ring.attach(client, leftover),
            None => {
                super::io::spawn(super::conn::run(self.clone(), client, leftover));
            }
        }
    }

    /// Takes a finished connection out: an inactive one quietly, an
    /// active one by promoting the next (1.x), and the key's last one by
    /// telling every peer it sent to that it is gone.
    pub fn unregister(&self, client: &Client) {
        let family = client.family;
        let removed = self.registry(family).borrow_mut().remove(client);
        let fm = self.fm(family);
        tracing::debug!(
            shard = self.id,
            client = %crate::proto::key::short_hex(&client.key),
            reason = %client.close_reason().map_or("open", CloseReason::name),
            "unregistered"
        );
        fm.disconnects.inc();
        self.update_client_gauge(family);
        match removed {
            Removed::NotFound => {}
            Removed::Inactive => fm.clients_inactive_removed.inc(),
            Removed::Promoted(next) => {
                fm.clients_inactive_removed.inc();
                next.enqueue_frame(&ServerFrame::Status(Status::Healthy));
            }
            Removed::Last(peers) => {
                if client.close_reason() == Some(CloseReason::Replaced) || self.shutting_down.get()
                {
                    return;
                }
                for peer in peers {
                    self.route(RecordKind::Gone, &peer, client, &Datagram::plain(&[]));
                }
            }
        }
    }
}
