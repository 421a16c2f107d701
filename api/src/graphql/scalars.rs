//! Scalars of our own: [`Decimal`], the way every amount, rate and quantity travels.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use domain::money::parse_decimal;

/// A decimal number as a string (`"1020.00"`, `"-5"`): exact, with the scale written kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal(pub domain::Decimal);

/// A decimal number written as a string, e.g. `"1020.00"`: digits with an optional leading `-`
/// and at most six decimals, never a JSON number (floating point would lose digits). Sent back
/// with the scale it was computed or written with.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => parse_decimal(text)
                .map(Self)
                .map_err(|error| InputValueError::custom(error.to_string())),
            _ => Err(InputValueError::custom(
                "a decimal is sent as a string, e.g. \"1020.00\"",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<domain::Decimal> for Decimal {
    fn from(value: domain::Decimal) -> Self {
        Self(value)
    }
}

impl From<domain::money::Percent> for Decimal {
    fn from(value: domain::money::Percent) -> Self {
        Self(value.value())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decimals_travel_as_strings_with_their_scale() {
        let parsed = Decimal::parse(Value::String("1020.00".into())).unwrap();
        assert_eq!(parsed.to_value(), Value::String("1020.00".into()));
        assert_eq!(
            Decimal::parse(Value::String("-5".into()))
                .unwrap()
                .to_value(),
            Value::String("-5".into())
        );
    }

    #[test]
    fn numbers_and_malformed_text_are_refused() {
        for bad in [
            Value::from(12),
            Value::from(1.5),
            Value::String("1e3".into()),
            Value::String("12.".into()),
            Value::String("1.1234567".into()),
            Value::String(" 1".into()),
        ] {
            assert!(Decimal::parse(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
