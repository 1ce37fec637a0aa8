//! The scopes an operator app can hold and a user can grant.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "profile:read")]
    ProfileRead,
    #[serde(rename = "points:read")]
    PointsRead,
    #[serde(rename = "points:spend")]
    PointsSpend,
    #[serde(rename = "points:transfer")]
    PointsTransfer,
    #[serde(rename = "app:balance:read")]
    AppBalanceRead,
    #[serde(rename = "deploy:manage")]
    DeployManage,
    /// OpenID Connect: the app signs the user in and gets an ID token.
    #[serde(rename = "openid")]
    OpenId,
    /// OpenID Connect: the user's username, picture and when the profile changed.
    #[serde(rename = "profile")]
    Profile,
    /// OpenID Connect: the user's email address and whether it is verified.
    #[serde(rename = "email")]
    Email,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::ProfileRead,
        Scope::PointsRead,
        Scope::PointsSpend,
        Scope::PointsTransfer,
        Scope::AppBalanceRead,
        Scope::DeployManage,
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProfileRead => "profile:read",
            Scope::PointsRead => "points:read",
            Scope::PointsSpend => "points:spend",
            Scope::PointsTransfer => "points:transfer",
            Scope::AppBalanceRead => "app:balance:read",
            Scope::DeployManage => "deploy:manage",
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
        }
    }

    /// What the scope lets an app do, as a user would be told.
    pub fn description(self) -> &'static str {
        match self {
            Scope::ProfileRead => "Read the user's id, username and email",
            Scope::PointsRead => "Read the user's points balance and totals",
            Scope::PointsSpend => "Spend the user's points at the app",
            Scope::PointsTransfer => "Transfer the user's points to other users",
            Scope::AppBalanceRead => "Read the app's own balance of points earned",
            Scope::DeployManage => "Manage the app's deployments",
            Scope::OpenId => "Sign you in with your Buddo account",
            Scope::Profile => "See your username and profile picture",
            Scope::Email => "See your email address",
        }
    }

    /// Moves a user's points: never for a public client, which cannot keep a secret.
    pub fn moves_points(self) -> bool {
        matches!(self, Scope::PointsSpend | Scope::PointsTransfer)
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Granted to new apps without review (a request for these is approved at once).
    pub fn is_review_free(self) -> bool {
        matches!(
            self,
            Scope::ProfileRead | Scope::PointsRead | Scope::OpenId | Scope::Profile | Scope::Email
        )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, kept sorted; stored and shown as a list of scope strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Scopes(scopes.into_iter().collect())
    }

    /// 403 `insufficient_scope` unless `scope` is among these (RFC 6750 §3.1).
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope {
                scope: scope.as_str(),
            })
        }
    }

    /// Scope strings as a list; `Err` names the first unknown one.
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        list.iter()
            .map(|s| Scope::parse(s.as_ref().trim()).ok_or_else(|| s.as_ref().to_string()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scopes)
    }

    /// A JSON list of scope strings from a request body; a field error names the bad one.
    pub fn parse_list(field: &'static str, list: &[String]) -> Result<Self, crate::ApiError> {
        Self::from_list(list)
            .map_err(|bad| crate::ApiError::field(field, format!("unknown scope {bad:?}")))
    }

    /// A space-separated `scope` parameter (RFC 6749 §3.3).
    pub fn from_param(param: &str) -> Result<Self, String> {
        let list: Vec<&str> = param.split(' ').filter(|s| !s.is_empty()).collect();
        Self::from_list(&list)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_subset(&self, of: &Scopes) -> bool {
        self.0.is_subset(&of.0)
    }

    /// The scopes in both.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes::new(self.iter().filter(|s| other.contains(*s)))
    }

    pub fn union(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.union(&other.0).copied().collect())
    }

    /// (review-free, needing review)
    pub fn split_by_review(&self) -> (Scopes, Scopes) {
        let (free, reviewed) = self.0.iter().partition(|s| s.is_review_free());
        (Scopes(free), Scopes(reviewed))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn to_strings(&self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }

    /// The space-separated form.
    pub fn to_param(&self) -> String {
        self.to_strings().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_and_review() {
        let s = Scopes::from_param("points:spend  profile:read").unwrap();
        assert_eq!(s.to_param(), "profile:read points:spend");
        assert_eq!(Scopes::from_list(&["nope"]), Err("nope".into()));
        let (free, reviewed) = Scopes::new(Scope::ALL).split_by_review();
        assert_eq!(
            free.to_strings(),
            ["profile:read", "points:read", "openid", "profile", "email"]
        );
        assert!(reviewed.contains(Scope::DeployManage));
        assert_eq!(
            serde_json::to_value(&free).unwrap(),
            serde_json::json!(["profile:read", "points:read", "openid", "profile", "email"])
        );
    }
}
