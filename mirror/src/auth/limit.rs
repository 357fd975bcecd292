//! The failed-login limit. bcrypt makes each guess slow; this bounds how many there are. After
//! `failures` failed logins within `window` for one user name, or from one client address,
//! further logins for it are refused for `window` without checking the password (429 with
//! `Retry-After`). Credentials proven before keep working (they are remembered), so a guesser
//! locks out new logins only. Behind a reverse proxy every client has the proxy's address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records kept at once; an attacker spraying user names must not grow the map without bound.
const MAX_RECORDS: usize = 10_000;

#[derive(Clone, Copy, Debug)]
pub struct LoginLimit {
    /// Failed logins tolerated within `window`; 0: no limit.
    pub failures: u32,
    pub window: Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit { failures: 10, window: Duration::from_secs(60) }
    }
}

/// What failures are counted against.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Who {
    User(String),
    Client(IpAddr),
}

struct Record {
    since: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

#[derive(Default)]
pub struct Failures {
    limit: LoginLimit,
    records: Mutex<HashMap<Who, Record>>,
}

impl Failures {
    pub fn new(limit: LoginLimit) -> Failures {
        Failures { limit, records: Mutex::default() }
    }

    /// How long until all of `who` may try again, if any of them is locked out.
    pub fn locked(&self, who: &[Who], now: Instant) -> Option<Duration> {
        if self.limit.failures == 0 {
            return None;
        }
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        who.iter().filter_map(|w| records.get(w)?.locked_until).filter(|t| *t > now).map(|t| t - now).max()
    }

    /// A failed login by all of `who`.
    pub fn failed(&self, who: &[Who], now: Instant) {
        let LoginLimit { failures, window } = self.limit;
        if failures == 0 {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= MAX_RECORDS {
            records.retain(|_, r| r.locked_until.is_some_and(|t| t > now) || now.duration_since(r.since) <= window);
            if records.len() >= MAX_RECORDS {
                let mut by_age: Vec<(Who, Instant)> = records.iter().map(|(w, r)| (w.clone(), r.since)).collect();
                by_age.sort_by_key(|(_, since)| *since);
                for (w, _) in by_age.into_iter().take(MAX_RECORDS / 10) {
                    records.remove(&w);
                }
            }
        }
        for w in who {
            let r = records.entry(w.clone()).or_insert(Record { since: now, count: 0, locked_until: None });
            // A window that ended (and any lockout with it) starts over.
            if now.duration_since(r.since) > window && r.locked_until.is_none_or(|t| t <= now) {
                *r = Record { since: now, count: 0, locked_until: None };
            }
            r.count += 1;
            if r.count >= failures {
                r.locked_until = Some(now + window);
            }
        }
    }

    /// A successful login clears the user's count (not the address's: one valid account must
    /// not reset the count of guesses at others).
    pub fn succeeded(&self, user: &str) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(&Who::User(user.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_until_the_window_passes() {
        let f = Failures::new(LoginLimit { failures: 3, window: Duration::from_secs(60) });
        let t0 = Instant::now();
        let (alice, here, there) = (Who::User("alice".into()), Who::Client([10, 0, 0, 1].into()), Who::Client([10, 0, 0, 2].into()));
        for i in 0..2 {
            f.failed(&[alice.clone(), here.clone()], t0 + Duration::from_secs(i));
        }
        assert_eq!(f.locked(&[alice.clone(), here.clone()], t0 + Duration::from_secs(2)), None, "two failures are allowed");
        f.failed(&[alice.clone(), here.clone()], t0 + Duration::from_secs(2));
        let at = t0 + Duration::from_secs(3);
        assert_eq!(f.locked(&[alice.clone(), there.clone()], at), Some(Duration::from_secs(59)), "the user is locked from anywhere");
        assert_eq!(f.locked(&[Who::User("bob".into()), here.clone()], at), Some(Duration::from_secs(59)), "and the address for anyone");
        assert_eq!(f.locked(&[Who::User("bob".into()), there.clone()], at), None);
        let just_alice = std::slice::from_ref(&alice);
        assert_eq!(f.locked(just_alice, t0 + Duration::from_secs(62)), None, "until the window passes");
        // Failures spread wider than the window never lock.
        let g = Failures::new(LoginLimit { failures: 2, window: Duration::from_secs(10) });
        g.failed(just_alice, t0);
        g.failed(just_alice, t0 + Duration::from_secs(11));
        assert_eq!(g.locked(just_alice, t0 + Duration::from_secs(12)), None);
        // Off.
        let off = Failures::new(LoginLimit { failures: 0, window: Duration::from_secs(10) });
        (0..100).for_each(|_| off.failed(just_alice, t0));
        assert_eq!(off.locked(just_alice, t0), None);
    }
}
