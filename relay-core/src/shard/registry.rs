//! One family's clients on one shard, by key.
//!
//! A key may be connected more than once. 0.35 closes the older
//! connection; 1.x keeps it open but inactive (it may still send, it
//! receives nothing) and promotes the most recent inactive one back when
//! the active one leaves. Only when a key's last connection leaves are its
//! peers told it is gone: every key any of its connections sent to.

use std::rc::Rc;

use crate::proto::dialect::Duplicates;
use crate::proto::key::{KeyMap, KeySet, NodeKey};

/// What the registry needs of a connection.
pub trait Member {
    /// Unique per connection.
    fn id(&self) -> u64;
    fn key(&self) -> &NodeKey;
    /// Adds the keys this connection sent to.
    fn sent_to_into(&self, set: &mut KeySet);
}

struct Slot<C> {
    active: Rc<C>,
    /// Older connections, most recently displaced last.
    inactive: Vec<Rc<C>>,
    /// Destinations of this key's connections that already left.
    departed_sent_to: KeySet,
}

/// The outcome of [`Registry::insert`].
pub enum Inserted<C> {
    Fresh,
    /// The older active connection, to be closed (0.35).
    Replaced(Rc<C>),
    /// The older active connection, now inactive: tell it (1.x).
    Demoted(Rc<C>),
}

/// The outcome of [`Registry::remove`].
pub enum Removed<C> {
    /// Not registered (any more): a newer connection took its key and
    /// closed it, or it never got in.
    NotFound,
    /// An inactive connection left; the key stays connected.
    Inactive,
    /// The active connection left and this inactive one took over: tell it.
    Promoted(Rc<C>),
    /// The key's last connection left; these peers had been sent to.
    Last(Vec<NodeKey>),
}

pub struct Registry<C> {
    policy: Duplicates,
    map: KeyMap<Slot<C>>,
    /// Inactive connections over all keys.
    inactive: usize,
}

impl<C: Member> Registry<C> {
    pub fn new(policy: Duplicates) -> Self {
        Self {
            policy,
            map: KeyMap::default(),
            inactive: 0,
        }
    }

    /// Makes `c` its key's active connection.
    pub fn insert(&mut self, c: Rc<C>) -> Inserted<C> {
        let key = *c.key();
        let Some(slot) = self.map.get_mut(&key) else {
            self.map.insert(
                key,
                Slot {
                    active: c,
                    inactive: Vec::new(),
                    departed_sent_to: KeySet::default(),
                },
            );
            return Inserted::Fresh;
        };
        let old = std::mem::replace(&mut slot.active, c);
        match self.policy {
            Duplicates::CloseOld => Inserted::Replaced(old),
            Duplicates::KeepInactive => {
                slot.inactive.push(old.clone());
                self.inactive += 1;
                Inserted::Demoted(old)
            }
        }
    }

    /// The connection that receives packets for `key`.
    pub fn active(&self, key: &NodeKey) -> Option<&Rc<C>> {
        self.map.get(key).map(|s| &s.active)
    }

    /// Takes `c` out.
    pub fn remove(&mut self, c: &C) -> Removed<C> {
        let Some(slot) = self.map.get_mut(c.key()) else {
            return Removed::NotFound;
        };
        if slot.active.id() != c.id() {
            let Some(i) = slot.inactive.iter().position(|x| x.id() == c.id()) else {
                return Removed::NotFound;
            };
            slot.inactive.remove(i);
            self.inactive -= 1;
            c.sent_to_into(&mut slot.departed_sent_to);
            return Removed::Inactive;
        }
        if let Some(next) = slot.inactive.pop() {
            self.inactive -= 1;
            c.sent_to_into(&mut slot.departed_sent_to);
            slot.active = next.clone();
            return Removed::Promoted(next);
        }
        let Some(slot) = self.map.remove(c.key()) else {
            return Removed::NotFound;
        };
        self.shrink_if_sparse();
        let mut peers = slot.departed_sent_to;
        c.sent_to_into(&mut peers);
        Removed::Last(peers.into_iter().collect())
    }

    /// A table sized for a burst of clients is kept no larger than twice
    /// what is left once three quarters have gone, so memory follows the
    /// clients back down. Each shrink halves at least, so its cost is
    /// spread over the removals that led to it.
    fn shrink_if_sparse(&mut self) {
        const MIN_KEPT: usize = 64;
        let cap = self.map.capacity();
        if cap > MIN_KEPT && self.map.len() * 4 < cap {
            self.map.shrink_to((self.map.len() * 2).max(MIN_KEPT));
        }
    }

    /// Keys connected.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Connections kept open beside a newer one with their key.
    pub fn inactive_len(&self) -> usize {
        self.inactive
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every connection, active and inactive.
    pub fn connections(&self) -> Vec<Rc<C>> {
        self.map
            .values()
            .flat_map(|s| std::iter::once(&s.active).chain(&s.inactive))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Conn {
        id: u64,
        key: NodeKey,
        sent: RefCell<Vec<NodeKey>>,
    }

    impl Member for Conn {
        fn id(&self) -> u64 {
            self.id
        }
        fn key(&self) -> &NodeKey {
            &self.key
        }
        fn sent_to_into(&self, set: &mut KeySet) {
            set.extend(self.sent.borrow().iter().copied());
        }
    }

    fn conn(id: u64, key: u8) -> Rc<Conn> {
        Rc::new(Conn {
            id,
            key: [key; 32],
            sent: RefCell::new(Vec::new()),
        })
    }

    #[test]
    fn close_old_replaces() {
        let mut r = Registry::new(Duplicates::CloseOld);
        let (a, b) = (conn(1, 7), conn(2, 7));
        a.sent.borrow_mut().push([1; 32]);
        assert!(matches!(r.insert(a.clone()), Inserted::Fresh));
        assert!(matches!(r.insert(b.clone()), Inserted::Replaced(o) if o.id == 1));
        assert_eq!(r.active(&[7; 32]).map(|c| c.id), Some(2));
        // The replaced one leaves quietly: its key is still connected.
        assert!(matches!(r.remove(&a), Removed::NotFound));
        assert!(matches!(r.remove(&b), Removed::Last(p) if p.is_empty()));
        assert!(r.is_empty());
    }

    #[test]
    fn keep_inactive_promotes_and_reports_all_peers_at_the_end() {
        let mut r = Registry::new(Duplicates::KeepInactive);
        let (a, b, c) = (conn(1, 7), conn(2, 7), conn(3, 7));
        a.sent.borrow_mut().push([1; 32]);
        b.sent.borrow_mut().push([2; 32]);
        c.sent.borrow_mut().push([3; 32]);
        r.insert(a.clone());
        assert!(matches!(r.insert(b.clone()), Inserted::Demoted(o) if o.id == 1));
        assert!(matches!(r.insert(c.clone()), Inserted::Demoted(o) if o.id == 2));
        assert_eq!(r.connections().len(), 3);
        assert_eq!(r.len(), 1);
        assert_eq!(r.inactive_len(), 2);
        // The most recently displaced comes back first.
        assert!(matches!(r.remove(&c), Removed::Promoted(n) if n.id == 2));
        assert_eq!(r.active(&[7; 32]).map(|c| c.id), Some(2));
        assert_eq!(r.inactive_len(), 1);
        assert!(matches!(r.remove(&a), Removed::Inactive));
        assert_eq!(r.inactive_len(), 0);
        let Removed::Last(mut peers) = r.remove(&b) else {
            panic!()
        };
        peers.sort();
        assert_eq!(peers, vec![[1; 32], [2; 32], [3; 32]]);
        assert!(matches!(r.remove(&b), Removed::NotFound));
    }

    #[test]
    fn the_table_shrinks_when_most_clients_have_gone() {
        let mut r = Registry::new(Duplicates::CloseOld);
        let conns: Vec<_> = (0..10_000u64)
            .map(|i| {
                let mut key = [0; 32];
                key[..8].copy_from_slice(&i.to_le_bytes());
                Rc::new(Conn {
                    id: i,
                    key,
                    sent: RefCell::new(Vec::new()),
                })
            })
            .collect();
        for c in &conns {
            r.insert(c.clone());
        }
        let full = r.map.capacity();
        assert!(full >= 10_000);
        for c in &conns[..9_990] {
            r.remove(c);
        }
        assert_eq!(r.len(), 10);
        assert!(
            r.map.capacity() <= 128,
            "capacity {} of {full}",
            r.map.capacity()
        );
        for c in &conns[9_990..] {
            assert!(matches!(r.active(&c.key), Some(a) if a.id == c.id));
        }
    }
}
