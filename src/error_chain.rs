//! One line describing an error and every cause under it.
//!
//! hyper and reqwest put the useful part ("Connection refused", "timed out")
//! several `source()` levels down; logs and JSON error details need all of it.

use std::error::Error;

/// `error: cause: cause …`, outermost first.
pub fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_named_in_order() {
        let error = Outer(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"));
        assert_eq!(describe(&error), "outer: timed out");
    }
}
