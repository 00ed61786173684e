//! `"auto"` or a value: the `[models]` settings a DP scaling law may choose (`preset`,
//! `batch_size`, `steps`), written in audit.toml as the string "auto" or as the value itself.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A setting left to the planner (`Auto`) or fixed by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auto<T> {
    /// Chosen by `vg-audit plan` with the configured law and budget.
    Auto,
    /// This value.
    Fixed(T),
}

impl<T: Copy> Auto<T> {
    /// The fixed value, or `planned` when automatic.
    pub fn or(self, planned: T) -> T {
        match self {
            Auto::Auto => planned,
            Auto::Fixed(v) => v,
        }
    }
    /// True when left to the planner.
    pub fn is_auto(self) -> bool {
        matches!(self, Auto::Auto)
    }
}

impl<T: Serialize> Serialize for Auto<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Auto::Auto => s.serialize_str("auto"),
            Auto::Fixed(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Auto<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<T> {
            Text(String),
            Value(T),
        }
        match Raw::<T>::deserialize(d).map_err(|_| serde::de::Error::custom("expected \"auto\" or a positive whole number"))? {
            Raw::Text(t) if t == "auto" => Ok(Auto::Auto),
            Raw::Text(t) => Err(serde::de::Error::custom(format!("expected \"auto\" or a positive whole number, got {t:?}"))),
            Raw::Value(v) => Ok(Auto::Fixed(v)),
        }
    }
}
