//! [`counters!`]: the stats structs of the systems (`PoolStats`, `WatchStats`, …), each a set of
//! `AtomicU64` counters read with a same-named method.

/// Defines a `#[derive(Debug, Default)]` struct of `AtomicU64` fields and, for each field, a public
/// method of the same name returning its value (relaxed ordering). Each field's doc comment becomes
/// its method's; methods that record or reset go in an ordinary `impl` block beside it.
macro_rules! counters {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($(#[$doc:meta])* $field:ident,)*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $($field: std::sync::atomic::AtomicU64,)*
        }

        impl $name {
            $(
                $(#[$doc])*
                pub fn $field(&self) -> u64 {
                    self.$field.load(std::sync::atomic::Ordering::Relaxed)
                }
            )*
        }
    };
}

pub(crate) use counters;
