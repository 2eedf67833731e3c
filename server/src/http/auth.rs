//! Bearer tokens and roles. A role allows everything the roles below it
//! allow: `read` (queries, profiles, exports) < `write` (+ imports) <
//! `admin` (+ schema changes, segments, sensitive fields).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use serde::Deserialize;

use super::api_error::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
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
    /// The secret a client sends.
    pub secret: String,
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
}

/// The principal of a loopback client when no tokens are configured.
pub const LOCAL_PRINCIPAL: &str = "local";

/// Compares without stopping at the first difference, so that the time
/// taken does not tell how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The principal of a request: from its bearer token, or (with no tokens
/// configured) `local`, an admin, for a loopback client. 401 for a missing
/// or unknown token, 403 for a remote client of a server without tokens.
pub fn authenticate(
    headers: &HeaderMap,
    peer: SocketAddr,
    tokens: &[Token],
) -> Result<Principal, ApiError> {
    if tokens.is_empty() {
        return if peer.ip().is_loopback() {
            Ok(Principal {
                name: LOCAL_PRINCIPAL.to_owned(),
                role: Role::Admin,
            })
        } else {
            Err(ApiError::forbidden(
                "this server has no tokens configured and accepts only loopback clients",
            ))
        };
    }
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
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
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
        })?;
    // Every token is compared, so the time taken does not tell which one
    // matched; two tokens with one secret give the higher role.
    tokens
        .iter()
        .filter(|t| same_secret(t.secret.as_bytes(), secret.as_bytes()))
        .max_by_key(|t| t.role)
        .map(|t| Principal {
            name: t.name.clone(),
            role: t.role,
        })
        .ok_or_else(|| ApiError::unauthorized("unknown token"))
}

/// The role of a request (see [`authenticate`]).
pub fn role_of(headers: &HeaderMap, peer: SocketAddr, tokens: &[Token]) -> Result<Role, ApiError> {
    authenticate(headers, peer, tokens).map(|p| p.role)
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
                secret: "r".into(),
            },
            Token {
                name: "bo".into(),
                role: Role::Admin,
                secret: "a".into(),
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
            authenticate(&headers("Bearer r"), remote, &tokens).unwrap(),
            Principal {
                name: "ana".into(),
                role: Role::Read
            }
        );
        assert_eq!(
            authenticate(&HeaderMap::new(), local, &[]).unwrap().name,
            LOCAL_PRINCIPAL
        );
        assert!(require(Role::Write, Role::Read, "x").is_ok());
        assert_eq!(
            require(Role::Read, Role::Write, "x").unwrap_err().status(),
            403
        );
    }
}
