//! The metadata trees, by name. A field's name is its sled tree's name on disk unless it says
//! `= "disk name"` (renaming one needs a migration). Transactions see the same struct over
//! `TransactionalTree`s, so every tree is reached by its name, never by a position in a list.
//! The core trees (the registry's, bundles, history) are here; each ecosystem declares its own
//! group with the same macro in its folder, and `crate::ecosystems::EcoTrees` holds the groups.

use sled::transaction::{ConflictableTransactionResult, TransactionResult, TransactionalTree};
use sled::Transactional;

use super::counts::Counted;

/// Declares a struct with one `T` per metadata tree (the trees themselves, their transactional
/// views, or gc's reach rules), plus nested groups declared the same way.
macro_rules! trees {
    (@disk $name:ident) => { stringify!($name) };
    (@disk $name:ident $disk:literal) => { $disk };
    (
        $(#[$sdoc:meta])*
        $vis:vis struct $ty:ident {
            $( $(#[$doc:meta])* $name:ident $(= $disk:literal)?, )*
            $( ; $( $(#[$gdoc:meta])* $group:ident : $($gpath:ident)::+, )* )?
        }
    ) => {
        $(#[$sdoc])*
        #[derive(Clone)]
        $vis struct $ty<T> {
            $( $(#[$doc])* pub $name: T, )*
            $($( $(#[$gdoc])* pub $group: $($gpath)::+<T>, )*)?
        }

        #[allow(dead_code)]
        impl<T> $ty<T> {
            /// Every tree's name, as sled stores it.
            pub fn names(out: &mut Vec<&'static str>) {
                $( out.push($crate::store::meta::trees!(@disk $name $($disk)?)); )*
                $($( $($gpath)::+::<T>::names(out); )*)?
            }

            pub fn try_new<E>(f: &mut impl FnMut(&'static str) -> Result<T, E>) -> Result<Self, E> {
                Ok($ty {
                    $( $name: f($crate::store::meta::trees!(@disk $name $($disk)?))?, )*
                    $($( $group: $($gpath)::+::try_new(f)?, )*)?
                })
            }

            /// The `T` of the tree called `name`.
            pub fn get(&self, name: &[u8]) -> Option<&T> {
                $( if name == $crate::store::meta::trees!(@disk $name $($disk)?).as_bytes() { return Some(&self.$name); } )*
                $($( if let Some(t) = self.$group.get(name) { return Some(t); } )*)?
                None
            }

            /// Every `T`, in declaration order.
            pub fn list<'a>(&'a self, out: &mut Vec<&'a T>) {
                $( out.push(&self.$name); )*
                $($( self.$group.list(out); )*)?
            }

            /// Each `T` turned into a `U`, tree by tree.
            pub fn map<U>(self, f: &mut impl FnMut(T) -> U) -> $ty<U> {
                $ty {
                    $( $name: f(self.$name), )*
                    $($( $group: self.$group.map(f), )*)?
                }
            }

            /// The inverse of `list`: the same macro writes both, so the order cannot drift.
            pub fn from_list<'a>(it: &mut std::slice::Iter<'a, T>) -> $ty<&'a T> {
                $ty {
                    $( $name: it.next().expect("one view per tree"), )*
                    $($( $group: $($gpath)::+::from_list(it), )*)?
                }
            }
        }
    };
}
pub(crate) use trees;

trees! {
    pub struct Trees {
        repos,
        tags,
        manifests,
        referrers,
        blobs,
        bundles,
        history,
        state,
        /// `artifact name \0 manifest digest` → nothing: see `Changes::envelopes`.
        envelopes,
        /// `repo \0 tag` and `repo \0 @digest` → nothing: tags and manifests an authenticated push
        /// wrote (the rest came from signed bundles and are protected from pushes and deletes).
        /// `\0 digest` → push time (unix seconds, big-endian): a pushed blob, kept by gc for
        /// `PUSH_GRACE` while its manifest may still be on the way.
        pushed,
        /// generation (big-endian) → `Event`: who pushed, deleted, removed, collected or
        /// quarantined what (imports are in `history`). See meta/audit.rs.
        audit,
        /// `artifact name` → the generation (big-endian) of the `mirror rm` that took it out;
        /// cleared by the import that brings it back, which says so.
        removed,
        // A new tree needs a reach rule in meta/reach.rs (`RULES` does not compile without one).
        ;
        /// Each ecosystem's own trees.
        eco: crate::ecosystems::EcoTrees,
    }
}

impl Trees<sled::Tree> {
    pub fn open(db: &sled::Db) -> sled::Result<Trees<sled::Tree>> {
        Trees::try_new(&mut |name| db.open_tree(name))
    }

    /// Run `f` in one transaction across every tree, each reached by its name through a view
    /// that counts the keys it adds and removes (`Meta::transact` keeps the counters).
    pub fn transaction<A, E>(&self, f: impl Fn(&Trees<Counted<'_>>) -> ConflictableTransactionResult<A, E>) -> TransactionResult<A, E> {
        let mut list = Vec::new();
        self.list(&mut list);
        list[..].transaction(|views: &Vec<TransactionalTree>| f(&Trees::<TransactionalTree>::from_list(&mut views.iter()).map(&mut Counted::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<&'static str> {
        let mut out = Vec::new();
        Trees::<()>::names(&mut out);
        out
    }

    /// Each field is the tree of its own name, in the transaction too.
    #[test]
    fn a_transaction_reaches_each_tree_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let trees = Trees::open(&db).unwrap();
        trees
            .transaction(|t| {
                for name in names() {
                    t.get(name.as_bytes()).unwrap().insert(name, name)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
        for name in names() {
            let tree = db.open_tree(name).unwrap();
            assert_eq!(tree.len(), 1, "{name}");
            assert_eq!(tree.get(name).unwrap().as_deref(), Some(name.as_bytes()), "{name}");
            assert_eq!(trees.get(name.as_bytes()).unwrap().name(), name.as_bytes());
        }
    }
}
