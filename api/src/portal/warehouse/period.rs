//! The months the charts cover: read from the page's `from`/`to` parameters (`YYYY-MM`, as an
//! `<input type="month">` sends them), checked, and completed from the months that hold data
//! (by default the last [`DEFAULT_MONTHS`] up to the latest month with data).

use std::fmt;

/// Months shown when the page is opened without a period.
pub const DEFAULT_MONTHS: u32 = 24;
/// The longest period a page may ask for: ten years of monthly bars.
pub const MAX_MONTHS: u32 = 120;

/// A calendar month, counted from year 0 so that months compare and step simply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(u32);

impl Month {
    /// `2024-03` (four-digit year, two-digit month); anything else is `None`.
    pub fn parse(code: &str) -> Option<Self> {
        let (year, month) = code.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        let (year, month): (u32, u32) = (year.parse().ok()?, month.parse().ok()?);
        (1..=12)
            .contains(&month)
            .then_some(Self(year * 12 + month - 1))
    }

    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The month `n` before this one (not before year 0).
    pub fn back(self, n: u32) -> Self {
        Self(self.0.saturating_sub(n))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.0 / 12, self.0 % 12 + 1)
    }
}

/// The months from `from` to `to`, both included (`from ≤ to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Month,
    pub to: Month,
}

impl Period {
    /// Every month of the period, in order.
    pub fn months(self) -> impl Iterator<Item = Month> {
        std::iter::successors(Some(self.from), move |m| (*m < self.to).then(|| m.next()))
    }
}

/// Why the requested period cannot be shown; each names the parameter it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodError {
    /// Not a month `YYYY-MM`.
    NotAMonth(&'static str),
    /// `from` after `to`.
    Reversed,
    /// More than [`MAX_MONTHS`].
    TooLong,
}

impl PeriodError {
    /// The parameter (and the input's name) the error concerns.
    pub fn field(self) -> &'static str {
        match self {
            Self::NotAMonth(field) => field,
            Self::Reversed | Self::TooLong => "from",
        }
    }
}

/// What the page asked for: each end a month, or left open (empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requested {
    pub from: Option<Month>,
    pub to: Option<Month>,
}

impl Requested {
    /// Reads the parameters (surrounding blanks ignored, empty = open); every problem found.
    pub fn parse(from: &str, to: &str) -> Result<Self, Vec<PeriodError>> {
        let read = |text: &str, field| {
            let text = text.trim();
            if text.is_empty() {
                Ok(None)
            } else {
                Month::parse(text)
                    .map(Some)
                    .ok_or(PeriodError::NotAMonth(field))
            }
        };
        let (from, to) = (read(from, "from"), read(to, "to"));
        let errors: Vec<PeriodError> = [&from, &to].into_iter().filter_map(|r| r.err()).collect();
        match (from, to) {
            (Ok(from), Ok(to)) => {
                let requested = Self { from, to };
                match requested.check_order() {
                    Some(error) => Err(vec![error]),
                    None => Ok(requested),
                }
            }
            _ => Err(errors),
        }
    }

    fn check_order(self) -> Option<PeriodError> {
        let (from, to) = (self.from?, self.to?);
        if from > to {
            Some(PeriodError::Reversed)
        } else if to.0 - from.0 >= MAX_MONTHS {
            Some(PeriodError::TooLong)
        } else {
            None
        }
    }

    /// The period to show, given the first and latest months with data (`None`: no data).
    /// An open end follows the data: `to` the latest month with data (or `from`, if later),
    /// `from` [`DEFAULT_MONTHS`] before `to` but not before the first month with data. A period
    /// completed this way never exceeds [`MAX_MONTHS`].
    pub fn complete(self, data: Option<(Month, Month)>) -> Option<Period> {
        let to = match (self.to, self.from, data) {
            (Some(to), _, _) => to,
            (None, Some(from), Some((_, last))) => {
                last.max(from).min(Month(from.0 + MAX_MONTHS - 1))
            }
            (None, Some(from), None) => from,
            (None, None, Some((_, last))) => last,
            (None, None, None) => return None,
        };
        let from = match (self.from, data) {
            (Some(from), _) => from,
            (None, Some((first, _))) => first.max(to.back(DEFAULT_MONTHS - 1)).min(to),
            (None, None) => to.back(DEFAULT_MONTHS - 1),
        };
        Some(Period { from, to })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(code: &str) -> Month {
        Month::parse(code).unwrap()
    }

    #[test]
    fn months_read_and_write_as_year_dash_month() {
        assert_eq!(m("2024-03").to_string(), "2024-03");
        assert_eq!(m("2024-12").next().to_string(), "2025-01");
        assert_eq!(m("2024-02").back(3).to_string(), "2023-11");
        for bad in [
            "2024-13",
            "2024-00",
            "2024-3",
            "24-03",
            "2024/03",
            "2024-03-01",
            "",
            "abcd-ef",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_period_lists_its_months() {
        let period = Period {
            from: m("2023-11"),
            to: m("2024-02"),
        };
        let months: Vec<String> = period.months().map(|m| m.to_string()).collect();
        assert_eq!(months, ["2023-11", "2023-12", "2024-01", "2024-02"]);
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(
            Requested::parse("March", "2024-13"),
            Err(vec![
                PeriodError::NotAMonth("from"),
                PeriodError::NotAMonth("to")
            ])
        );
        assert_eq!(
            Requested::parse("2024-05", "2024-04"),
            Err(vec![PeriodError::Reversed])
        );
        assert_eq!(
            Requested::parse("2000-01", "2010-01"),
            Err(vec![PeriodError::TooLong])
        );
        assert!(Requested::parse("2000-01", "2009-12").is_ok());
        assert_eq!(Requested::parse(" ", ""), Ok(Requested::default()));
    }

    #[test]
    fn open_ends_follow_the_data() {
        let data = Some((m("2020-01"), m("2024-06")));
        let open = Requested::default();
        assert_eq!(
            open.complete(data),
            Some(Period {
                from: m("2022-07"),
                to: m("2024-06")
            })
        );
        // Less than two years of data: from the first month with data.
        assert_eq!(
            open.complete(Some((m("2024-01"), m("2024-03")))),
            Some(Period {
                from: m("2024-01"),
                to: m("2024-03")
            })
        );
        assert_eq!(open.complete(None), None);
        let from = Requested {
            from: Some(m("2024-05")),
            to: None,
        };
        assert_eq!(from.complete(data).unwrap().to, m("2024-06"));
        assert_eq!(from.complete(None).unwrap().to, m("2024-05"));
        let long_ago = Requested {
            from: Some(m("1990-01")),
            to: None,
        };
        assert_eq!(long_ago.complete(data).unwrap().to, m("1999-12"));
        let to = Requested {
            from: None,
            to: Some(m("2021-03")),
        };
        assert_eq!(to.complete(data).unwrap().from, m("2020-01"));
        assert_eq!(to.complete(None).unwrap().from, m("2019-04"));
    }
}
