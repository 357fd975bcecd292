//! Renderings (apt indexes, PyPI pages) kept per key with the generation of the records they
//! were rendered from, and served stale while one background thread renders the next
//! (stale-while-revalidate): after a write, requests are answered at once from the earlier
//! rendering, and wait only when nothing was ever rendered for their key. A key renders once at
//! a time, and never on an async worker thread (the background render is a thread of its own;
//! `wait` is for `spawn_blocking`).

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub struct Renders<K, V> {
    inner: Arc<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Whose renderings (an ecosystem's name), for `/metrics`.
    name: &'static str,
    slots: Mutex<Slots<K, V>>,
    /// Earlier renderings kept per key, newest first (apt serves the files they listed by hash).
    keep: usize,
    /// Past this total weight of current renderings, every other key's rendering is dropped.
    max_weight: usize,
    weigh: fn(&V) -> usize,
}

struct Slots<K, V> {
    map: HashMap<K, Arc<Slot<V>>>,
    weight: usize,
}

struct Slot<V> {
    st: Mutex<SlotState<V>>,
    /// Signalled when a render of the key ends.
    done: Condvar,
}

struct SlotState<V> {
    /// The newest rendering and the generation it was rendered at.
    current: Option<(u64, V)>,
    previous: VecDeque<V>,
    rendering: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K, V> Inner<K, V> {
    /// Runs a render, counting it (and its time) in `/metrics` when it succeeds.
    fn timed<E>(&self, render: impl FnOnce() -> Result<(u64, V), E>) -> Result<(u64, V), E> {
        let start = std::time::Instant::now();
        let out = render();
        if out.is_ok() {
            crate::metrics::metrics().rendered(self.name, start.elapsed());
        }
        out
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static, V: Clone + Send + Sync + 'static> Renders<K, V> {
    /// `name`'s renderings (an ecosystem's, counted in `/metrics` under it); `keep` earlier
    /// renderings per key; `max_weight` of current renderings in all, as `weigh` counts.
    pub fn new(name: &'static str, keep: usize, max_weight: usize, weigh: fn(&V) -> usize) -> Self {
        Renders { inner: Arc::new(Inner { name, slots: Mutex::new(Slots { map: HashMap::new(), weight: 0 }), keep, max_weight, weigh }) }
    }

    fn slot(&self, key: &K) -> Option<Arc<Slot<V>>> {
        lock(&self.inner.slots).map.get(key).cloned()
    }

    /// The rendering kept for `key`, at once, if there is one. When it is older than
    /// `generation`, one background thread renders the next with `render` (unless one is
    /// already at it). `None` when nothing was rendered for `key` yet: then `wait`.
    pub fn kept<E: Display>(&self, key: &K, generation: u64, render: impl FnOnce() -> Result<(u64, V), E> + Send + 'static) -> Option<V> {
        let slot = self.slot(key)?;
        let mut st = lock(&slot.st);
        let (g, v) = st.current.clone()?;
        if g < generation && !st.rendering {
            st.rendering = true;
            drop(st);
            let (inner, k, s) = (self.inner.clone(), key.clone(), slot.clone());
            let spawned = std::thread::Builder::new().name("render".into()).spawn(move || match inner.timed(render) {
                Ok((g, v)) => inner.install(&s, g, v),
                Err(e) => {
                    tracing::error!("rendering again for generation {generation}: {e}; the earlier rendering is still served");
                    inner.ended(&k, &s);
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a render thread: {e}");
                self.inner.ended(key, &slot);
            }
        }
        Some(v)
    }

    /// Blocking: the rendering of `key` — the kept one if any, else rendered on this thread
    /// with `render`, or the one another thread is rendering, waited for.
    pub fn wait<E>(&self, key: &K, render: impl FnOnce() -> Result<(u64, V), E>) -> Result<V, E> {
        let slot = lock(&self.inner.slots)
            .map
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Slot { st: Mutex::new(SlotState { current: None, previous: VecDeque::new(), rendering: false }), done: Condvar::new() }))
            .clone();
        let mut st = lock(&slot.st);
        // Each pass follows the end of a render of this key: a bounded number in practice.
        loop {
            if let Some((_, v)) = &st.current {
                return Ok(v.clone());
            }
            if !st.rendering {
                break;
            }
            st = slot.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.rendering = true;
        drop(st);
        match self.inner.timed(render) {
            Ok((g, v)) => {
                self.inner.install(&slot, g, v.clone());
                Ok(v)
            }
            Err(e) => {
                self.inner.ended(key, &slot);
                Err(e)
            }
        }
    }

    /// The current rendering of `key`, then the earlier ones kept, newest first.
    pub fn recent(&self, key: &K) -> Vec<V> {
        let Some(slot) = self.slot(key) else { return Vec::new() };
        let st = lock(&slot.st);
        st.current.iter().map(|(_, v)| v.clone()).chain(st.previous.iter().cloned()).collect()
    }

    /// Drops what is kept for `key` (it is no longer held).
    pub fn forget(&self, key: &K) {
        let mut slots = lock(&self.inner.slots);
        if let Some(slot) = slots.map.remove(key) {
            let w = lock(&slot.st).current.as_ref().map_or(0, |(_, v)| (self.inner.weigh)(v));
            slots.weight = slots.weight.saturating_sub(w);
        }
    }

    /// Blocks until no render of `key` runs: for tests that look at what a render left.
    #[cfg(test)]
    pub fn settle(&self, key: &K) {
        let Some(slot) = self.slot(key) else { return };
        let mut st = lock(&slot.st);
        while st.rendering {
            st = slot.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<K: Eq + Hash + Clone, V> Inner<K, V> {
    /// Keeps `v`, rendered from the records at generation `g`, unless a newer one is kept. (A
    /// key forgotten while it rendered stays forgotten: its slot is no longer in the map.)
    fn install(&self, slot: &Arc<Slot<V>>, g: u64, v: V) {
        let mut st = lock(&slot.st);
        let newer = st.current.as_ref().is_none_or(|(kept, _)| *kept < g);
        let (mut added, mut dropped) = (0, 0);
        if newer {
            added = (self.weigh)(&v);
            if let Some((_, old)) = st.current.replace((g, v)) {
                dropped = (self.weigh)(&old);
                st.previous.push_front(old);
                st.previous.truncate(self.keep);
            }
        }
        st.rendering = false;
        slot.done.notify_all();
        drop(st);
        let mut slots = lock(&self.slots);
        slots.weight = (slots.weight + added).saturating_sub(dropped);
        if slots.weight > self.max_weight {
            slots.map.retain(|_, s| Arc::ptr_eq(s, slot));
            slots.weight = added;
        }
    }

    /// A render that kept nothing: waiters wake (and one renders); a key with nothing
    /// rendered is dropped, so names that were never held leave nothing behind.
    fn ended(&self, key: &K, slot: &Arc<Slot<V>>) {
        let mut st = lock(&slot.st);
        st.rendering = false;
        slot.done.notify_all();
        let empty = st.current.is_none();
        drop(st);
        if empty {
            let mut slots = lock(&self.slots);
            if slots.map.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
                slots.map.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Renders<&'static str, u64>;

    fn renders() -> R {
        Renders::new("test", 1, usize::MAX, |_| 1)
    }

    #[test]
    fn stale_is_served_while_one_render_runs() {
        let r = renders();
        assert_eq!(r.kept(&"a", 1, || Ok::<_, String>((1, 10))), None, "nothing rendered yet");
        assert_eq!(r.wait(&"a", || Ok::<_, String>((1, 10))), Ok(10));
        assert_eq!(r.kept(&"a", 1, || -> Result<(u64, u64), String> { panic!("fresh: no render") }), Some(10));
        // Generation 2: the render is held until the gate opens; meanwhile the earlier is served.
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = gate.clone();
        assert_eq!(
            r.kept(&"a", 2, move || {
                let _open = g.lock().unwrap();
                Ok::<_, String>((2, 20))
            }),
            Some(10)
        );
        assert_eq!(r.kept(&"a", 2, || -> Result<(u64, u64), String> { panic!("one render at a time") }), Some(10));
        drop(held);
        r.settle(&"a");
        assert_eq!(r.kept(&"a", 2, || -> Result<(u64, u64), String> { panic!("fresh") }), Some(20));
        assert_eq!(r.recent(&"a"), vec![20, 10], "the earlier rendering is kept");
    }

    #[test]
    fn a_failed_first_render_leaves_nothing() {
        let r = renders();
        assert_eq!(r.wait(&"nope", || Err::<(u64, u64), _>("no such key")), Err("no such key"));
        assert!(lock(&r.inner.slots).map.is_empty());
    }

    #[test]
    fn past_the_weight_other_keys_start_over() {
        let r: R = Renders::new("test", 0, 2, |_| 1);
        for k in ["a", "b", "c"] {
            r.wait(&k, || Ok::<_, String>((1, 1))).unwrap();
        }
        assert_eq!((r.recent(&"a"), r.recent(&"c")), (vec![], vec![1]));
    }
}
