//! [`named_impl!`]: how each system's "before" and "after" variants carry their name, as a constant
//! (`PollingPool::NAME`) for scenario ids and reports, and through their trait's `name` for a boxed
//! one.

/// Gives `$ty` its `NAME`, `$name`, and implements `$trait` for it: the trait's `name` returns
/// `NAME`; its other items are the ones given.
macro_rules! named_impl {
    ($trait:ident for $ty:ty = $name:literal { $($items:tt)* }) => {
        impl $ty {
            /// Its name in reports and scenario ids.
            pub const NAME: &'static str = $name;
        }

        impl $trait for $ty {
            fn name(&self) -> &'static str {
                Self::NAME
            }

            $($items)*
        }
    };
}

pub(crate) use named_impl;
