//! The metadata trees, by name. A field's name is its sled tree's name on disk (renaming one
//! needs a migration). Transactions see the same struct over `TransactionalTree`s, so every
//! tree is reached by its name, never by a position in a list.

use sled::transaction::{ConflictableTransactionResult, TransactionResult, TransactionalTree};
use sled::Transactional;

macro_rules! trees {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// One `T` per metadata tree: the trees themselves, their transactional views, or
        /// gc's reach rules.
        #[derive(Clone)]
        pub struct Trees<T> {
            $( $(#[$doc])* pub $name: T, )*
        }

        impl<T> Trees<T> {
            /// Every tree's name, as sled stores it.
            #[cfg(test)]
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            pub fn try_new<E>(mut f: impl FnMut(&'static str) -> Result<T, E>) -> Result<Trees<T>, E> {
                Ok(Trees { $( $name: f(stringify!($name))?, )* })
            }

            /// The `T` of the tree called `name`.
            pub fn get(&self, name: &[u8]) -> Option<&T> {
                $( if name == stringify!($name).as_bytes() { return Some(&self.$name); } )*
                None
            }

            fn list(&self) -> Vec<&T> {
                vec![$(&self.$name),*]
            }

            /// The inverse of `list`: the same macro writes both, so the order cannot drift.
            fn from_list(list: &[T]) -> Trees<&T> {
                let mut it = list.iter();
                Trees { $( $name: it.next().expect("one view per tree"), )* }
            }
        }
    };
}

trees! {
    repos,
    tags,
    manifests,
    referrers,
    blobs,
    bundles,
    history,
    state,
    /// `id \0 suite \0 component \0 arch \0 filename` → DebRecord.
    apt,
    /// `id \0 filename` → deb digest, for `/apt/<id>/pool/…`.
    apt_pool,
    /// `project \0 filename` → WheelRecord.
    pypi,
    /// `filename` → WheelRecord, for `/pypi/files/…`.
    pypi_files,
    /// `name` → (digest, size), for `/files/<name>`.
    files,
    /// NLTK package id → NltkRecord.
    nltk,
    /// `name \0 version` → HelmRecord.
    helm,
    /// `repo \0 commit` → HfRecord.
    hf,
    /// `repo \0 revision` → commit: a revision name answers with the commit imported last for it.
    hf_refs,
    /// `artifact name \0 manifest digest` → nothing: see `Changes::envelopes`.
    envelopes,
    /// `repo \0 tag` and `repo \0 @digest` → nothing: tags and manifests an authenticated push
    /// wrote (the rest came from signed bundles and are protected from pushes and deletes).
    /// `\0 digest` → push time (unix seconds, big-endian): a pushed blob, kept by gc for
    /// `PUSH_GRACE` while its manifest may still be on the way.
    pushed,
    // A new tree needs a reach rule in meta/reach.rs (`RULES` does not compile without one).
}

impl Trees<sled::Tree> {
    pub fn open(db: &sled::Db) -> sled::Result<Trees<sled::Tree>> {
        Trees::try_new(|name| db.open_tree(name))
    }

    /// Run `f` in one transaction across every tree, each reached by its name.
    pub fn transaction<A, E>(&self, f: impl Fn(&Trees<&TransactionalTree>) -> ConflictableTransactionResult<A, E>) -> TransactionResult<A, E> {
        let list = self.list();
        list[..].transaction(|views: &Vec<TransactionalTree>| f(&Trees::from_list(views)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field is the tree of its own name, in the transaction too.
    #[test]
    fn a_transaction_reaches_each_tree_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let trees = Trees::open(&db).unwrap();
        trees
            .transaction(|t| {
                for name in Trees::<()>::NAMES {
                    t.get(name.as_bytes()).unwrap().insert(*name, *name)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .unwrap();
        for name in Trees::<()>::NAMES {
            let tree = db.open_tree(name).unwrap();
            assert_eq!(tree.len(), 1, "{name}");
            assert_eq!(tree.get(name).unwrap().as_deref(), Some(name.as_bytes()), "{name}");
            assert_eq!(trees.get(name.as_bytes()).unwrap().name(), name.as_bytes());
        }
    }
}
