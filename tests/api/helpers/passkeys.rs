//! Passkeys: a software authenticator (ES256 with ring, attestation "none", CBOR written by
//! hand) that answers the server's WebAuthn options as a browser and an authenticator would,
//! and the requests that register a passkey and sign in with one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Resp, TestApp};

/// The relying party and origin the tests' configuration names (helpers/backends.rs).
pub const PASSKEY_RP_ID: &str = "app.buddo.test";
pub const PASSKEY_ORIGIN: &str = "https://app.buddo.test";

/// One credential on a software authenticator. Clone it to make a cloned authenticator: both
/// copies then count signatures on their own.
#[derive(Clone)]
pub struct SoftAuthenticator {
    /// The credential's private key (PKCS#8).
    pub pkcs8: Vec<u8>,
    pub credential_id: Vec<u8>,
    /// The user handle the credential was created for (the account's id, as bytes).
    pub user_handle: Vec<u8>,
    /// The signature counter: the next assertion carries it plus one.
    pub counter: u32,
    /// Whether the counter counts at all (synced passkeys often keep it at 0).
    pub counts: bool,
    /// The page's origin as the browser reports it.
    pub origin: String,
    /// Backup eligible and backed up (a synced passkey).
    pub synced: bool,
    /// User verification (PIN, biometric) performed.
    pub verifies_user: bool,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftAuthenticator {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("a P-256 key")
            .as_ref()
            .to_vec();
        let mut credential_id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut credential_id).expect("random");
        SoftAuthenticator {
            pkcs8,
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            counts: true,
            origin: PASSKEY_ORIGIN.into(),
            synced: false,
            verifies_user: true,
        }
    }

    fn key(&self) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &self.pkcs8,
            &SystemRandom::new(),
        )
        .expect("the key")
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0x01; // user present
        if self.verifies_user {
            flags |= 0x04;
        }
        if self.synced {
            flags |= 0x08 | 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("a challenge in the options")
            .trim_end_matches('=')
            .to_string();
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// Answers `navigator.credentials.create()` options: the `PublicKeyCredential` JSON.
    pub fn register(&mut self, options: &Value) -> Value {
        let user_id = options["publicKey"]["user"]["id"]
            .as_str()
            .expect("a user id in the options");
        self.user_handle = URL_SAFE_NO_PAD
            .decode(user_id.trim_end_matches('='))
            .expect("base64url user id");
        let rp_id = options["publicKey"]["rp"]["id"]
            .as_str()
            .unwrap_or(PASSKEY_RP_ID);
        let client_data = self.client_data("webauthn.create", options);

        let key = self.key();
        let point = key.public_key().as_ref(); // 0x04 | x | y
        let mut cose = Vec::new();
        cbor_head(&mut cose, 5, 5);
        cbor_int(&mut cose, 1);
        cbor_int(&mut cose, 2); // kty: EC2
        cbor_int(&mut cose, 3);
        cbor_int(&mut cose, -7); // alg: ES256
        cbor_int(&mut cose, -1);
        cbor_int(&mut cose, 1); // crv: P-256
        cbor_int(&mut cose, -2);
        cbor_bytes(&mut cose, &point[1..33]);
        cbor_int(&mut cose, -3);
        cbor_bytes(&mut cose, &point[33..65]);

        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(cose);

        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);

        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers `navigator.credentials.get()` options: the `PublicKeyCredential` JSON, signed
    /// with the next counter value.
    pub fn assert(&mut self, options: &Value) -> Value {
        let rp_id = options["publicKey"]["rpId"]
            .as_str()
            .unwrap_or(PASSKEY_RP_ID);
        let client_data = self.client_data("webauthn.get", options);
        if self.counts {
            self.counter += 1;
        }
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(false));
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = self
            .key()
            .sign(&SystemRandom::new(), &signed)
            .expect("a signature");
        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
                "userHandle": URL_SAFE_NO_PAD.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend([major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        cbor_head(out, 0, n as u64);
    } else {
        cbor_head(out, 1, (-1 - n) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend(text.as_bytes());
}

/// A sign-in challenge: its id and options.
pub struct Challenge {
    pub id: String,
    pub options: Value,
}

impl TestApp {
    /// Asks for registration options (needs a recent sign-in).
    pub async fn passkey_registration_options(&self, token: &str) -> Resp {
        self.post_auth("/api/auth/passkeys/register/options", token, None)
            .await
    }

    /// Registers `authenticator` as a passkey of the token's user; the answer.
    pub async fn register_passkey(
        &self,
        token: &str,
        authenticator: &mut SoftAuthenticator,
        name: Option<&str>,
    ) -> Resp {
        let options = self.passkey_registration_options(token).await;
        let options = options.assert_status(200);
        let credential = authenticator.register(&options["options"]);
        let mut body = json!({
            "challenge_id": options["challenge_id"],
            "credential": credential,
        });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.post_auth("/api/auth/passkeys/register", token, Some(body))
            .await
    }

    /// Registers `authenticator` and answers the new passkey's id.
    pub async fn add_passkey(&self, token: &str, authenticator: &mut SoftAuthenticator) -> String {
        let added = self.register_passkey(token, authenticator, None).await;
        added.assert_status(201)["passkey"]["id"]
            .as_str()
            .expect("a passkey id")
            .to_string()
    }

    /// A new sign-in challenge.
    pub async fn passkey_challenge(&self) -> Challenge {
        let resp = self
            .post("/api/auth/passkeys/login/options", json!({}))
            .await;
        let body = resp.assert_status(200);
        Challenge {
            id: body["challenge_id"]
                .as_str()
                .expect("a challenge id")
                .into(),
            options: body["options"].clone(),
        }
    }

    /// Sends an answer to a sign-in challenge.
    pub async fn passkey_login_with(&self, challenge: &Challenge, credential: Value) -> Resp {
        self.post(
            "/api/auth/passkeys/login",
            json!({ "challenge_id": challenge.id, "credential": credential }),
        )
        .await
    }

    /// Signs in with `authenticator` on a fresh challenge.
    pub async fn passkey_login(&self, authenticator: &mut SoftAuthenticator) -> Resp {
        let challenge = self.passkey_challenge().await;
        let credential = authenticator.assert(&challenge.options);
        self.passkey_login_with(&challenge, credential).await
    }
}
