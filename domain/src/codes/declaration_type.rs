//! Whether goods enter or leave the customs territory.

use super::CodeError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The declaration type: import or export (WCO data element 1/1, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeclarationType {
    Import,
    Export,
}

impl DeclarationType {
    /// Parses `import` or `export`, in any letter case.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        match s.to_ascii_lowercase().as_str() {
            "import" => Ok(Self::Import),
            "export" => Ok(Self::Export),
            _ => Err(CodeError::DeclarationType(s.to_owned())),
        }
    }

    /// `import` or `export`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }
}

impl fmt::Display for DeclarationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeclarationType {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn import_and_export_parse_in_any_case() {
        assert_eq!(
            DeclarationType::parse("IMPORT").unwrap(),
            DeclarationType::Import
        );
        assert_eq!(
            DeclarationType::parse("export").unwrap(),
            DeclarationType::Export
        );
        assert_eq!(
            DeclarationType::parse("transit").unwrap_err().code(),
            "INVALID_DECLARATION_TYPE"
        );
        assert_eq!(
            serde_json::to_string(&DeclarationType::Import).unwrap(),
            "\"import\""
        );
    }
}
