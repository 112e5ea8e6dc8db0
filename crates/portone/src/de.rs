//! Lenient deserializers for gateway fields whose JSON type varies in practice.

use serde::{Deserialize, Deserializer};

/// Money in won: the gateway documents amounts as `number`, so accept `1000`, `1000.0`
/// and `"1000"`, but refuse fractions (won has no minor unit).
pub(crate) fn won<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        I(i64),
        F(f64),
        S(String),
    }
    match Num::deserialize(d)? {
        Num::I(v) => Ok(v),
        Num::F(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        Num::F(v) => Err(serde::de::Error::custom(format!(
            "non-integer won amount {v}"
        ))),
        Num::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// `null` (or a missing field, with `#[serde(default)]`) becomes `T::default()`:
/// timestamps are `0` when unset, but some answers send `null` instead.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `custom_data` is documented as a string but older integrations stored objects;
/// keep whatever came as text.
pub(crate) fn string_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}
