//! Bearer tokens and roles. A role allows everything the roles below it
//! allow: `read` (queries, profiles, exports) < `write` (+ imports) <
//! `admin` (+ schema changes, segments, sensitive fields).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::key_store::{format_timestamp, ApiKey};
use super::secret_hash::SecretHash;
use crate::permissions::Limits;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries, profiles and exports.
    Read,
    /// Read, and imports.
    Write,
    /// Everything: schema changes, segments, sensitive fields.
    Admin,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        })
    }
}

impl From<segdb_query_lang::ProcedureRole> for Role {
    /// The role a procedure's signature asks for.
    fn from(r: segdb_query_lang::ProcedureRole) -> Role {
        match r {
            segdb_query_lang::ProcedureRole::Read => Role::Read,
            segdb_query_lang::ProcedureRole::Write => Role::Write,
            segdb_query_lang::ProcedureRole::Admin => Role::Admin,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role `{s}` (read, write or admin)")),
        }
    }
}

/// An accepted bearer token.
#[derive(Clone)]
pub struct Token {
    /// Who holds it: the principal's name in logs (and, later, in the
    /// audit log and on approvals).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The salted hash of the secret a client sends.
    pub secret_hash: SecretHash,
    /// The fields and categories it is limited to, if any.
    pub limits: Limits,
    /// Its SCRAM-SHA-256 verifier, for Postgres clients: made at start
    /// from a `secret` given in clear; none for a `secret_hash`.
    pub scram: Option<crate::pg::scram::ScramVerifier>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, {}, <secret>)", self.name, self.role)
    }
}

/// Who is asking: the named principal a request authenticated as, and its
/// role. The `observe` middleware puts it (and its `Role`) in the request's
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (`local` for a loopback client of a server
    /// without tokens).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The fields and categories it is limited to (see
    /// [`crate::permissions`]); none for an admin.
    pub limits: Limits,
}

impl Principal {
    /// The principal of a configured token.
    pub fn of_token(t: &Token) -> Principal {
        Principal {
            name: t.name.clone(),
            role: t.role,
            limits: t.limits.clone(),
        }
    }

    /// The principal of an API key.
    pub fn of_key(k: &ApiKey) -> Principal {
        Principal {
            name: k.name.clone(),
            role: k.role,
            limits: k.limits.clone(),
        }
    }

    /// `local`: a loopback client of a server without tokens, every role.
    pub fn local() -> Principal {
        Principal {
            name: LOCAL_PRINCIPAL.to_owned(),
            role: Role::Admin,
            limits: Limits::default(),
        }
    }

    /// What it may use and see.
    pub fn access(&self) -> crate::permissions::FieldAccess {
        crate::permissions::FieldAccess::new(self.role, &self.limits)
    }
}

/// The principal of a loopback client when no tokens are configured.
pub const LOCAL_PRINCIPAL: &str = "local";

/// Why a request did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header (or another scheme).
    Missing(&'static str),
    /// No token or key has this secret.
    Unknown,
    /// The secret is an API key's, past its expiry.
    Expired {
        /// The key's name.
        name: String,
        /// When it expired (seconds since 1970).
        at: u64,
    },
    /// A remote client of a server without tokens or keys.
    RemoteWithoutTokens,
}

impl AuthError {
    /// The `reason` label of `segdb_auth_failures_total` (a closed set),
    /// or `None` for a refusal that is not a failed authentication.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing(_) => Some("missing"),
            AuthError::Unknown => Some("unknown"),
            AuthError::Expired { .. } => Some("expired"),
            AuthError::RemoteWithoutTokens => None,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::Missing(m) => ApiError::unauthorized(m),
            AuthError::Unknown => ApiError::unauthorized("unknown token"),
            AuthError::Expired { name, at } => ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "key_expired",
                format!("the API key `{name}` expired at {}", format_timestamp(at)),
            )
            .with_hint("an admin makes a new key with POST /v1/keys"),
            AuthError::RemoteWithoutTokens => ApiError::forbidden(
                "this server has no tokens configured and accepts only loopback clients",
            ),
        }
    }
}

/// The principal of a request: from its bearer token (a configured token
/// or an API key unexpired at `now`, seconds since 1970), or (with no
/// tokens configured) `local`, an admin, for a loopback client that sends
/// no token. A token sent is always checked, unless there are neither
/// tokens nor keys (then it is ignored, as before keys existed).
pub fn authenticate(
    headers: &HeaderMap,
    peer: SocketAddr,
    tokens: &[Token],
    keys: &[ApiKey],
    now: u64,
) -> Result<Principal, AuthError> {
    let header = headers.get(axum::http::header::AUTHORIZATION);
    if tokens.is_empty() && (keys.is_empty() || header.is_none()) {
        return if peer.ip().is_loopback() {
            Ok(Principal::local())
        } else if keys.is_empty() {
            Err(AuthError::RemoteWithoutTokens)
        } else {
            Err(AuthError::Missing(
                "missing `Authorization: Bearer <token>` header",
            ))
        };
    }
    let Some(value) = header else {
        return Err(AuthError::Missing(
            "missing `Authorization: Bearer <token>` header",
        ));
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(AuthError::Missing(
            "the Authorization header is not `Bearer <token>`",
        ))?;
    // Every token and key is compared, so the time taken does not tell
    // which one matched; two tokens with one secret give the higher role.
    let token = tokens
        .iter()
        .filter(|t| t.secret_hash.matches(secret))
        .max_by_key(|t| t.role);
    let key = keys
        .iter()
        .filter(|k| k.secret_hash.matches(secret))
        .max_by_key(|k| k.role);
    match (token, key) {
        (Some(t), _) => Ok(Principal::of_token(t)),
        (None, Some(k)) => match k.expires_at {
            Some(at) if now >= at => Err(AuthError::Expired {
                name: k.name.clone(),
                at,
            }),
            _ => Ok(Principal::of_key(k)),
        },
        (None, None) => Err(AuthError::Unknown),
    }
}

/// The role of a request (see [`authenticate`]).
pub fn role_of(headers: &HeaderMap, peer: SocketAddr, tokens: &[Token]) -> Result<Role, ApiError> {
    Ok(authenticate(headers, peer, tokens, &[], 0).map(|p| p.role)?)
}

/// `Ok` if `role` may do what needs `needed`; else a 403 saying so.
pub fn require(role: Role, needed: Role, what: &str) -> Result<(), ApiError> {
    if role >= needed {
        Ok(())
    } else {
        Err(ApiError::forbidden(&format!(
            "{what} needs the {needed} role; this token has the {role} role"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    #[test]
    fn tokens_map_to_roles() {
        let remote: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let tokens = vec![
            Token {
                name: "ana".into(),
                role: Role::Read,
                secret_hash: SecretHash::new("r"),
                limits: Limits::default(),
                scram: None,
            },
            Token {
                name: "bo".into(),
                role: Role::Admin,
                secret_hash: SecretHash::new("a"),
                limits: Limits::default(),
                scram: None,
            },
        ];
        assert_eq!(
            role_of(&headers("Bearer r"), remote, &tokens).unwrap(),
            Role::Read
        );
        assert_eq!(
            role_of(&headers("Bearer a"), remote, &tokens).unwrap(),
            Role::Admin
        );
        assert_eq!(
            role_of(&headers("Bearer x"), remote, &tokens)
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            role_of(&headers("Basic a"), remote, &tokens)
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            role_of(&HeaderMap::new(), remote, &tokens)
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            role_of(&HeaderMap::new(), remote, &[])
                .unwrap_err()
                .status(),
            403
        );
        let local: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert_eq!(role_of(&HeaderMap::new(), local, &[]).unwrap(), Role::Admin);
        // The principal is the token's name.
        assert_eq!(
            authenticate(&headers("Bearer r"), remote, &tokens, &[], 0).unwrap(),
            Principal {
                name: "ana".into(),
                role: Role::Read,
                limits: Limits::default(),
            }
        );
        assert_eq!(
            authenticate(&HeaderMap::new(), local, &[], &[], 0)
                .unwrap()
                .name,
            LOCAL_PRINCIPAL
        );
        assert!(require(Role::Write, Role::Read, "x").is_ok());
        assert_eq!(
            require(Role::Read, Role::Write, "x").unwrap_err().status(),
            403
        );
    }

    #[test]
    fn keys_authenticate_until_they_expire() {
        let remote: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let key = |name: &str, secret: &str, expires_at| ApiKey {
            name: name.into(),
            role: Role::Write,
            secret_hash: SecretHash::new(secret),
            created_at: 0,
            created_by: "root".into(),
            expires_at,
            secret_hint: "0000".into(),
            limits: Limits::default(),
            scram: None,
        };
        let keys = vec![key("k1", "s1", None), key("k2", "s2", Some(100))];
        let tokens = vec![Token {
            name: "ana".into(),
            role: Role::Read,
            secret_hash: SecretHash::new("t"),
            limits: Limits::default(),
            scram: None,
        }];
        let auth =
            |h: &HeaderMap, peer, tokens: &[Token], now| authenticate(h, peer, tokens, &keys, now);
        let p = auth(&headers("Bearer s1"), remote, &tokens, 1_000).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("k1", Role::Write));
        assert_eq!(
            auth(&headers("Bearer s2"), remote, &tokens, 99)
                .unwrap()
                .name,
            "k2"
        );
        let e = auth(&headers("Bearer s2"), remote, &tokens, 100).unwrap_err();
        assert_eq!(
            e,
            AuthError::Expired {
                name: "k2".into(),
                at: 100
            }
        );
        assert_eq!(e.reason(), Some("expired"));
        let api = ApiError::from(e);
        assert_eq!((api.status(), api.code()), (401, "key_expired"));
        assert!(
            api.message().contains("1970-01-01T00:01:40Z"),
            "{}",
            api.message()
        );
        let e = auth(&headers("Bearer nope"), remote, &tokens, 0).unwrap_err();
        assert_eq!(
            (e.reason(), ApiError::from(e).status()),
            (Some("unknown"), 401)
        );
        let e = auth(&HeaderMap::new(), remote, &tokens, 0).unwrap_err();
        assert_eq!(e.reason(), Some("missing"));
        // No tokens configured: loopback without a token is `local`; a
        // token sent is checked; a remote client needs a key.
        assert_eq!(
            auth(&HeaderMap::new(), local, &[], 0).unwrap().name,
            LOCAL_PRINCIPAL
        );
        assert_eq!(
            auth(&headers("Bearer s1"), local, &[], 0).unwrap().name,
            "k1"
        );
        assert_eq!(
            auth(&headers("Bearer s1"), remote, &[], 0).unwrap().name,
            "k1"
        );
        let e = auth(&headers("Bearer nope"), local, &[], 0).unwrap_err();
        assert_eq!(e, AuthError::Unknown);
        let e = auth(&HeaderMap::new(), remote, &[], 0).unwrap_err();
        assert_eq!(ApiError::from(e).status(), 401);
        // Neither tokens nor keys: as before keys existed.
        let e = authenticate(&HeaderMap::new(), remote, &[], &[], 0).unwrap_err();
        assert_eq!((e.reason(), ApiError::from(e).status()), (None, 403));
        let p = authenticate(&headers("Bearer any"), local, &[], &[], 0).unwrap();
        assert_eq!(p.name, LOCAL_PRINCIPAL);
    }
}
