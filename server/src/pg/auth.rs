//! Startup and authentication. The user name is a token's (or API key's)
//! name and the password its secret; the principal and role are those the
//! HTTP API gives the same token.
//!
//! - A token or key with a SCRAM verifier logs in with SCRAM-SHA-256
//!   (psql's and libpq's default).
//! - One without (a `secret_hash` token, a key made before the Postgres
//!   protocol) logs in with a cleartext password, only over TLS, checked
//!   against its salted SHA-256; without TLS it is refused, saying why.
//! - A name that is nobody's runs the SCRAM exchange against a verifier
//!   no secret matches, and fails as a wrong secret does (28P01).
//! - With no tokens configured, a loopback client is trusted as `local`,
//!   an admin, as over HTTP; a remote one is refused.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::sink::Sink;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory, AuthState};
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    protocol_negotiation, save_startup_parameters_to_metadata, AuthDriver, AuthOutcome, AuthSource,
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::cancel::Cancels;
use super::scram::ScramVerifier;
use super::Session;
use crate::http::auth::Principal;
use crate::http::secret_hash::SecretHash;
use crate::http::Shared;

/// The startup handler of every connection.
pub struct Startup {
    state: Shared,
    driver: AuthDriver<DefaultServerParameterProvider, Principal>,
    cancels: Arc<Cancels>,
}

impl Startup {
    /// The handler for `state`'s tokens and keys.
    pub fn new(state: Shared, cancels: Arc<Cancels>) -> Startup {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("16.6 (segdb {})", env!("CARGO_PKG_VERSION"));
        params.is_superuser = false;
        Startup {
            state,
            driver: AuthDriver::new(params),
            cancels,
        }
    }

    /// How `user`, from `client`, logs in.
    fn mechanism(&self, user: &str, client: &dyn ClientInfo) -> Box<dyn AuthMechanism<Principal>> {
        let s = &self.state;
        let loopback = client.socket_addr().ip().is_loopback();
        let keys = s.keys.snapshot();
        let key = keys
            .iter()
            .filter(|k| k.name == user)
            .max_by_key(|k| k.role);
        // As over HTTP: without tokens, a loopback client that is not
        // logging in as an API key is `local`; a remote one needs a key.
        if s.config.tokens.is_empty() && key.is_none() {
            if loopback {
                return Box::new(Trust(Principal::local()));
            }
            if keys.is_empty() {
                return refuse(
                    "28000",
                    "this server has no tokens configured and accepts only loopback clients",
                );
            }
        }
        let token = s
            .config
            .tokens
            .iter()
            .filter(|t| t.name == user)
            .max_by_key(|t| t.role);
        let found = match (token, key) {
            (Some(t), _) => Some((
                t.secret_hash.clone(),
                t.scram.clone(),
                Principal::of_token(t),
                "its secret is configured as `secret_hash`",
            )),
            (None, Some(k)) => {
                if let Some(at) = k.expires_at.filter(|&at| s.keys.now() >= at) {
                    return refuse(
                        "28000",
                        &format!(
                            "the API key `{}` expired at {}",
                            k.name,
                            crate::http::key_store::format_timestamp(at)
                        ),
                    );
                }
                Some((
                    k.secret_hash.clone(),
                    k.scram.clone(),
                    Principal::of_key(k),
                    "the key was made before segdb spoke the Postgres protocol",
                ))
            }
            (None, None) => None,
        };
        match found {
            Some((_, Some(verifier), principal, _)) => scram(verifier, Some(principal)),
            Some((hash, None, principal, _)) if client.is_secure() => {
                Box::new(Cleartext { hash, principal })
            }
            Some((_, None, _, why)) => refuse(
                "28000",
                &format!(
                    "`{user}` has no SCRAM verifier ({why}): connect with TLS (sslmode=require) \
                     to log in with its secret as a password, or use a token given with \
                     `secret` or a new API key"
                ),
            ),
            None => scram(ScramVerifier::unmatchable(), None),
        }
    }
}

fn refuse(code: &str, message: &str) -> Box<dyn AuthMechanism<Principal>> {
    Box::new(Refuse(Some(PgWireError::UserError(Box::new(
        ErrorInfo::new("FATAL".to_owned(), code.to_owned(), message.to_owned()),
    )))))
}

fn scram(
    verifier: ScramVerifier,
    principal: Option<Principal>,
) -> Box<dyn AuthMechanism<Principal>> {
    let source = Verifier {
        verifier,
        principal,
    };
    Box::new(SaslChecked {
        inner: ScramAuth::new(Arc::new(source) as Arc<dyn AuthSource<Principal>>).create(),
        first: true,
    })
}

/// SCRAM, its first message's layout checked: pgwire reads a
/// SASLInitialResponse's length and takes that many bytes without looking
/// (`frames::check_sasl_initial`). A malformed one is a protocol
/// violation (FATAL 08P01), as in Postgres.
struct SaslChecked {
    inner: Box<dyn AuthMechanism<Principal>>,
    first: bool,
}

#[async_trait]
impl AuthMechanism<Principal> for SaslChecked {
    async fn begin(
        &mut self,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<AuthState<Principal>> {
        self.inner.begin(client).await
    }

    async fn next(
        &mut self,
        client: &(dyn ClientInfo + Send + Sync),
        message: PasswordMessageFamily,
    ) -> PgWireResult<AuthState<Principal>> {
        if std::mem::take(&mut self.first) {
            if let PasswordMessageFamily::Raw(body) = &message {
                if let Err(why) = super::frames::check_sasl_initial(body) {
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "FATAL".to_owned(),
                        "08P01".to_owned(),
                        format!("invalid message: {why}"),
                    ))));
                }
            }
        }
        self.inner.next(client, message).await
    }
}

/// One login's SCRAM verifier and whose it is.
struct Verifier {
    verifier: ScramVerifier,
    principal: Option<Principal>,
}

impl Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(<hidden>)")
    }
}

#[async_trait]
impl AuthSource<Principal> for Verifier {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(
        &self,
        _login: &LoginInfo,
    ) -> PgWireResult<(ScramSecret, Option<Principal>)> {
        Ok((self.verifier.secret(), self.principal.clone()))
    }
}

/// Logged in without a password.
struct Trust(Principal);

#[async_trait]
impl AuthMechanism<Principal> for Trust {
    async fn begin(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<AuthState<Principal>> {
        Ok(AuthState::Ok {
            final_message: None,
            identity: Some(self.0.clone()),
        })
    }

    async fn next(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
        _message: PasswordMessageFamily,
    ) -> PgWireResult<AuthState<Principal>> {
        Err(PgWireError::NoAuthenticationInProgress)
    }
}

/// Refused before any exchange.
struct Refuse(Option<PgWireError>);

#[async_trait]
impl AuthMechanism<Principal> for Refuse {
    async fn begin(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<AuthState<Principal>> {
        Ok(AuthState::Failed(
            self.0
                .take()
                .unwrap_or(PgWireError::NoAuthenticationInProgress),
        ))
    }

    async fn next(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
        _message: PasswordMessageFamily,
    ) -> PgWireResult<AuthState<Principal>> {
        Err(PgWireError::NoAuthenticationInProgress)
    }
}

/// A cleartext password (over TLS only) checked against the salted hash.
struct Cleartext {
    hash: SecretHash,
    principal: Principal,
}

#[async_trait]
impl AuthMechanism<Principal> for Cleartext {
    async fn begin(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<AuthState<Principal>> {
        Ok(AuthState::InProgress(Authentication::CleartextPassword))
    }

    async fn next(
        &mut self,
        _client: &(dyn ClientInfo + Send + Sync),
        message: PasswordMessageFamily,
    ) -> PgWireResult<AuthState<Principal>> {
        let password = message.into_password()?;
        if self.hash.matches(&password.password) {
            Ok(AuthState::Ok {
                final_message: None,
                identity: Some(self.principal.clone()),
            })
        } else {
            Ok(AuthState::Failed(PgWireError::InvalidPassword(
                self.principal.name.clone(),
            )))
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                let mechanism = self.mechanism(&user, client);
                self.driver.begin_authentication(client, mechanism).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(m) => {
                self.driver.advance_authentication(client, m).await
            }
            _ => return Ok(()),
        };
        match outcome {
            Ok(AuthOutcome::InProgress) => Ok(()),
            Ok(AuthOutcome::Authenticated {
                identity,
                final_message,
            }) => {
                let Some(principal) = identity else {
                    return Err(PgWireError::InvalidPassword(String::new()));
                };
                self.driver
                    .complete_authentication(client, final_message)
                    .await?;
                let (pid, key) = client.pid_and_secret_key();
                let (slot, registered) = self.cancels.register(pid, key.to_bytes());
                tracing::debug!(principal = %principal.name, peer = %client.socket_addr(), "a Postgres client logged in");
                client.session_extensions().insert(Session::new(
                    principal,
                    client.socket_addr(),
                    slot,
                    registered,
                ));
                Ok(())
            }
            Err(PgWireError::InvalidPassword(_)) => {
                self.state.metrics.auth_failure("unknown");
                // Postgres's own words, with the name the client gave.
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".to_owned(),
                    "28P01".to_owned(),
                    format!("password authentication failed for user \"{user}\""),
                ))))
            }
            Err(e) => {
                self.state.metrics.auth_failure("missing");
                Err(e)
            }
        }
    }
}
