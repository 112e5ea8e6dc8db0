//! Field-level validation errors, collected so a client sees every problem at once.

use serde::Serialize;

/// One invalid field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every invalid field of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the error of a parse, keeping its value when it succeeded.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(())` when nothing was recorded, so callers can `?` out of a validation block.
    pub fn finish(self) -> Result<(), Self> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// A trimmed, non-empty string of at most `max` characters.
pub fn bounded_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars < min {
        return Err(if min <= 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if chars > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".to_string());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_checks_length() {
        assert_eq!(bounded_text("  a b ", 1, 10).as_deref(), Ok("a b"));
        assert!(bounded_text("   ", 1, 10).is_err());
        assert!(bounded_text("abcdefghijk", 1, 10).is_err());
        assert!(bounded_text("가나다", 1, 3).is_ok());
        assert!(bounded_text("a\u{0}b", 1, 10).is_err());
    }

    #[test]
    fn field_errors_collect() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.check("a", Ok::<_, String>(1)), Some(1));
        assert_eq!(errors.check::<i32, _>("b", Err("bad")), None);
        assert_eq!(errors.clone().into_vec().len(), 1);
        assert!(errors.finish().is_err());
    }
}
