//! One-word environment settings (`LOCK_BACKOFF_STRATEGY=exponential|linear` and the like): the
//! reading and parsing shared by each setting's `from_env` and `parse`, and [`env_setting!`], which
//! declares a setting's enum with them.

use super::CacheError;

/// Defines a `Copy` enum whose value an environment variable selects by an exact word, each variant
/// written `Variant = "word"`, with `from_env` and `parse`: unset or empty means the first variant
/// (also the enum's `Default`); any other word is a [`CacheError::BadSetting`] naming the variable
/// and listing the words. Each variant's doc comment stays its own; methods that use the value go in
/// an ordinary `impl` block beside it.
macro_rules! env_setting {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident from $var:ident {
            $(#[$first_doc:meta])* $first:ident = $first_word:literal,
            $($(#[$doc:meta])* $variant:ident = $word:literal,)*
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis enum $name {
            $(#[$first_doc])*
            #[default]
            $first,
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            const SETTING: $crate::flowcache::setting::Setting<Self> =
                $crate::flowcache::setting::Setting {
                    var: $var,
                    words: &[($first_word, Self::$first), $(($word, Self::$variant),)*],
                    expected: concat!("`", $first_word, "`", $(" or `", $word, "`",)*),
                };

            #[doc = concat!(
                "Reads [`", stringify!($var), "`] from the environment; see [`",
                stringify!($name), "::parse`]."
            )]
            pub fn from_env() -> Result<Self, $crate::flowcache::CacheError> {
                Self::SETTING.read_env()
            }

            #[doc = concat!(
                "Parses the variable's value: unset or empty means `", stringify!($first),
                "`; otherwise exactly `", $first_word, "`", $(" or `", $word, "`",)* "."
            )]
            pub fn parse(value: Option<&str>) -> Result<Self, $crate::flowcache::CacheError> {
                Self::SETTING.parse(value)
            }
        }
    };
}

pub(crate) use env_setting;

/// An environment variable that selects one of a few values by an exact word.
pub(crate) struct Setting<T: 'static> {
    /// The variable's name.
    pub(crate) var: &'static str,
    /// The accepted words and what each selects; the first is also what unset or empty means.
    pub(crate) words: &'static [(&'static str, T)],
    /// The accepted words as the error message lists them.
    pub(crate) expected: &'static str,
}

impl<T: Copy> Setting<T> {
    /// Reads the variable from the environment; see [`Setting::parse`].
    pub(crate) fn read_env(&self) -> Result<T, CacheError> {
        match std::env::var_os(self.var) {
            None => self.parse(None),
            Some(value) => match value.to_str() {
                Some(text) => self.parse(Some(text)),
                None => Err(self.bad(value.to_string_lossy().into_owned())),
            },
        }
    }

    /// Parses the variable's value: unset or empty means the first word's value; otherwise exactly
    /// one of the words.
    pub(crate) fn parse(&self, value: Option<&str>) -> Result<T, CacheError> {
        let word = match value {
            None | Some("") => self.words[0].0,
            Some(word) => word,
        };
        self.words
            .iter()
            .find(|(w, _)| *w == word)
            .map(|&(_, v)| v)
            .ok_or_else(|| self.bad(word.to_owned()))
    }

    fn bad(&self, value: String) -> CacheError {
        CacheError::BadSetting {
            var: self.var,
            value,
            expected: self.expected,
        }
    }
}
