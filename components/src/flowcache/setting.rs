//! One-word environment settings (`LOCK_BACKOFF_STRATEGY=exponential|linear` and the like): the
//! reading and parsing shared by each setting's `from_env` and `parse`.

use super::CacheError;

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
