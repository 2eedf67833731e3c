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
    /// Its role.
    pub role: Role,
    /// The secret a client sends.
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, <secret>)", self.role)
    }
}

/// Compares without stopping at the first difference, so that the time
/// taken does not tell how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The role of a request: from its bearer token, or (with no tokens
/// configured) `admin` for a loopback client. 401 for a missing or unknown
/// token, 403 for a remote client of a server without tokens.
pub fn role_of(headers: &HeaderMap, peer: SocketAddr, tokens: &[Token]) -> Result<Role, ApiError> {
    if tokens.is_empty() {
        return if peer.ip().is_loopback() {
            Ok(Role::Admin)
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
    tokens
        .iter()
        .filter(|t| same_secret(t.secret.as_bytes(), secret.as_bytes()))
        .map(|t| t.role)
        .max()
        .ok_or_else(|| ApiError::unauthorized("unknown token"))
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
                role: Role::Read,
                secret: "r".into(),
            },
            Token {
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
        assert!(require(Role::Write, Role::Read, "x").is_ok());
        assert_eq!(
            require(Role::Read, Role::Write, "x").unwrap_err().status(),
            403
        );
    }
}
