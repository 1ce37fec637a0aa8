//! Users moved in with the password hashes they had elsewhere (bcrypt, scrypt, Firebase's
//! scrypt, Argon2i, Django's PBKDF2), signing in with their old passwords and upgraded to
//! Argon2id on the way; and moved out in the same format, losslessly.

use serde_json::{json, Value};

use buddo_shared::domain::identity::{sessions, users};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

const IMPORT: &str = "/api/admin/users/import";
const EXPORT: &str = "/api/admin/users/export";

/// Firebase's published sample (the firebase/scrypt README): the project's hash parameters with
/// one user's salt and hash of `user1password`.
const FIREBASE: &str = "$firebase-scrypt$rounds=8,mem_cost=14$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==";
/// crypt_blowfish's test vector (Openwall): `U*U`.
const BCRYPT: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
/// The Argon2 reference implementation's README: `password` with salt `somesalt`, Argon2i.
const ARGON2I: &str = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

/// A hash made by Python's hashlib, as the tool that made it would write it.
fn python_hash(kind: &str, password: &str) -> String {
    let script = r#"
import base64, hashlib, os, sys
kind, password = sys.argv[1], sys.argv[2].encode()
if kind == "scrypt":
    salt = os.urandom(16)
    key = hashlib.scrypt(password, salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
    print(f"$scrypt$ln=14,r=8,p=1${b64(salt)}${b64(key)}")
else:
    salt = base64.b64encode(os.urandom(9)).decode().replace("+", "a").replace("/", "b")
    key = hashlib.pbkdf2_hmac("sha256", password, salt.encode(), 100000)
    print(f"pbkdf2_sha256$100000${salt}${base64.b64encode(key).decode()}")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, kind, password])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn lines(users: &[Value]) -> String {
    users.iter().map(|u| format!("{u}\n")).collect()
}

fn unique(name: &str) -> String {
    format!("{name}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

impl TestApp {
    async fn import(&self, token: &str, body: impl Into<reqwest::Body>) -> Resp {
        let req = self
            .client
            .post(self.url(IMPORT))
            .header("content-type", "application/x-ndjson")
            .bearer_auth(token)
            .body(body);
        Self::read(req.send().await.expect("request")).await
    }

    async fn stored_hash(&self, email: &str) -> String {
        users::find_by_email(self.state.table.as_ref(), email)
            .await
            .unwrap()
            .expect("the user exists")
            .password_hash
    }

    /// Every user, the export read a page of `limit` at a time.
    async fn export_all(&self, token: &str, limit: usize) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{EXPORT}?limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!(
                    "&cursor={}",
                    url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                ));
            }
            let resp = self.get_auth(&path, token).await;
            let body = resp.assert_status(200);
            let page = body["users"].as_array().unwrap();
            assert!(page.len() <= limit);
            all.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return all,
            }
        }
    }
}

backend_tests! {
    async fn imported_users_sign_in_with_their_old_passwords_and_get_argon2id(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let scrypt_pw = "scrypt-user-password";
        let django_pw = "django user password";
        let users = [
            ("bcrypt", BCRYPT.to_string(), "U*U"),
            ("scrypt", python_hash("scrypt", scrypt_pw), scrypt_pw),
            ("firebase", FIREBASE.to_string(), "user1password"),
            ("django", python_hash("pbkdf2", django_pw), django_pw),
            ("argoni", ARGON2I.to_string(), "password"),
        ];
        let named: Vec<(String, String, &str)> = users
            .iter()
            .map(|(kind, hash, pw)| (unique(kind), hash.clone(), *pw))
            .collect();
        let body: Vec<Value> = named
            .iter()
            .map(|(name, hash, _)| json!({
                "email": format!("{name}@example.com"), "username": name, "email_verified": true,
                "created_at": "2020-05-01T12:00:00Z", "password_hash": hash,
            }))
            .collect();
        let resp = app.import(&admin, lines(&body)).await;
        let report = resp.assert_status(200);
        assert_eq!(report["imported"], 5, "{report}");
        assert_eq!(report["failed"], 0, "{report}");
        for (name, hash, password) in &named {
            let email = format!("{name}@example.com");
            assert_eq!(&app.stored_hash(&email).await, hash, "kept as imported until used");
            app.login(&email, "not the password", None).await.assert_error(401, "invalid_credentials");
            assert_eq!(&app.stored_hash(&email).await, hash, "a wrong password changes nothing");
            let session = app.login(&email, password, None).await;
            let token = session.assert_status(200)["token"].as_str().unwrap().to_string();
            let me = app.me(&token).await;
            let me = &me.assert_status(200)["user"];
            assert_eq!(me["username"], name.as_str());
            assert_eq!(me["email_verified"], true);
            let upgraded = app.stored_hash(&email).await;
            assert!(upgraded.starts_with("$argon2id$v=19$"), "{name}: {upgraded}");
            // The new hash is the password's: it signs in again, and nothing else does.
            app.login(&email, password, None).await.assert_status(200);
            app.login(&email, "not the password", None).await.assert_error(401, "invalid_credentials");
        }
        // The creation time came along.
        let (name, _, _) = &named[0];
        let profile = app.get(&format!("/api/users/{name}")).await;
        assert_eq!(profile.assert_status(200)["created_at"], "2020-05-01T12:00:00Z");
    }

    async fn a_password_check_other_than_login_upgrades_the_hash_too(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let name = unique("fire");
        let email = format!("{name}@example.com");
        let line = json!({ "email": email, "username": name, "password_hash": FIREBASE });
        app.import(&admin, lines(&[line])).await.assert_status(200);
        // Signed in through a session made for the test, the password checked only by the
        // change of address.
        let user = users::find_by_email(app.state.table.as_ref(), &email).await.unwrap().unwrap();
        let meta = buddo_shared::domain::RequestMeta::default();
        let token = sessions::start(&app.state, &user, sessions::Proof::Password, &meta).await.unwrap().access_token;
        let change = json!({ "new_email": format!("new-{email}"), "password": "user1password" });
        app.post_auth("/api/auth/change-email", &token, Some(change)).await.assert_status(200);
        assert!(app.stored_hash(&email).await.starts_with("$argon2id$"));
    }

    async fn totp_secrets_and_accounts_without_passwords_come_along(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let totp_name = unique("totp");
        let bare_name = unique("bare");
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let body = lines(&[
            json!({ "email": format!("{totp_name}@example.com"), "username": totp_name, "password_hash": BCRYPT, "totp_secret": secret }),
            json!({ "email": format!("{bare_name}@example.com"), "username": bare_name, "password_hash": null }),
        ]);
        app.import(&admin, body).await.assert_status(200);
        let email = format!("{totp_name}@example.com");
        app.login(&email, "U*U", None).await.assert_error(401, "totp_required");
        let code = app.totp_now(secret);
        app.login(&email, "U*U", Some(&code)).await.assert_status(200);
        // No password: only a reset lets the user in.
        app.login(&format!("{bare_name}@example.com"), "anything", None).await.assert_error(401, "invalid_credentials");
        let reset = app.post("/api/auth/forgot-password", json!({ "email": format!("{bare_name}@example.com") })).await;
        assert!(reset.status.is_success());
        // Nothing was mailed by the import itself.
        let mails = app.mails_to(&format!("{bare_name}@example.com")).await;
        assert_eq!(mails.len(), 1, "only the reset mail");
    }

    async fn bad_lines_are_named_and_a_rerun_skips(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let good = unique("good");
        let other = unique("other");
        let line = |name: &str, hash: Value| json!({ "email": format!("{name}@example.com"), "username": name, "password_hash": hash }).to_string();
        let body = [
            line(&good, json!(BCRYPT)),                                                   // 1
            "{not json".to_string(),                                                      // 2
            String::new(),                                                                // 3 (blank)
            json!({ "email": "not an email", "username": unique("bad") }).to_string(),   // 4
            line(&unique("cost"), json!(BCRYPT.replace("$05$", "$17$"))),                // 5
            line(&unique("mem"), json!("$scrypt$ln=18,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA")), // 6
            line(&unique("iter"), json!("pbkdf2_sha256$10000001$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=")), // 7
            line(&unique("argon"), json!("$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG")), // 8
            line(&unique("md"), json!("md5$x$y")),                                       // 9
            json!({ "email": "x@example.com", "username": unique("extra"), "password": "plain" }).to_string(), // 10
            json!({ "email": format!("{other}@example.com"), "username": other, "totp_secret": "short" }).to_string(), // 11
            line(&other, json!(FIREBASE)),                                               // 12
            line(&unique("fbwide"), json!(FIREBASE.replace("rounds=8,mem_cost=14", "rounds=64,mem_cost=17"))), // 13
        ]
        .join("\n");
        let resp = app.import(&admin, body.clone()).await;
        let report = resp.assert_status(200).clone();
        assert_eq!((report["imported"].as_u64(), report["skipped"].as_u64(), report["failed"].as_u64()), (Some(2), Some(0), Some(10)), "{report}");
        let failed: Vec<(u64, String)> = report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["line"].as_u64().unwrap(), f["code"].as_str().unwrap().to_string()))
            .collect();
        let expected = [
            (2, "malformed_line"),
            (4, "validation_failed"),
            (5, "invalid_password_hash"),
            (6, "invalid_password_hash"),
            (7, "invalid_password_hash"),
            (8, "invalid_password_hash"),
            (9, "invalid_password_hash"),
            (10, "malformed_line"),
            (11, "invalid_totp_secret"),
            (13, "invalid_password_hash"),
        ];
        assert_eq!(failed, expected.map(|(l, c)| (l, c.to_string())).to_vec(), "{report}");
        for f in report["failures"].as_array().unwrap() {
            assert!(!f["reason"].as_str().unwrap().is_empty());
        }
        // Again: those imported are skipped, the bad lines fail the same way.
        let again = app.import(&admin, body).await;
        let again = again.assert_status(200);
        assert_eq!((again["imported"].as_u64(), again["skipped"].as_u64(), again["failed"].as_u64()), (Some(0), Some(2), Some(10)), "{again}");
        assert_eq!(again["skipped_lines"], json!([1, 12]));
        app.login(&format!("{good}@example.com"), "U*U", None).await.assert_status(200);
    }

    async fn a_line_colliding_with_an_existing_user_fails_alone(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let existing = app.new_user().await;
        let fresh = unique("fresh");
        let stolen_name_email = format!("{}@example.com", unique("thief"));
        let body = lines(&[
            // The address of another user under a new name.
            json!({ "email": existing.email, "username": unique("newname"), "password_hash": BCRYPT }),
            // The name of another user with a new address.
            json!({ "email": stolen_name_email, "username": existing.username.to_uppercase(), "password_hash": BCRYPT }),
            json!({ "email": format!("{fresh}@example.com"), "username": fresh, "password_hash": BCRYPT }),
        ]);
        let resp = app.import(&admin, body).await;
        let report = resp.assert_status(200);
        assert_eq!(report["imported"], 1, "{report}");
        assert_eq!(report["failures"][0]["line"], 1);
        assert_eq!(report["failures"][0]["code"], "email_taken");
        assert_eq!(report["failures"][1]["line"], 2);
        assert_eq!(report["failures"][1]["code"], "username_taken");
        // Nothing of the failed lines was written; the existing user is untouched.
        assert!(users::find_by_email(app.state.table.as_ref(), &stolen_name_email).await.unwrap().is_none());
        app.login(&stolen_name_email, "U*U", None).await.assert_error(401, "invalid_credentials");
        app.login(&existing.email, "U*U", None).await.assert_error(401, "invalid_credentials");
        app.login_ok(&existing).await;
        let profile = app.get(&format!("/api/users/{}", existing.username)).await;
        assert_eq!(profile.assert_status(200)["id"], existing.id.as_str());
    }

    async fn only_admins_import_and_export_within_the_limits(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let line = lines(&[json!({ "email": "someone@example.com", "username": unique("someone") })]);
        app.import(&token, line.clone()).await.assert_error(403, "forbidden");
        app.get_auth(EXPORT, &token).await.assert_error(403, "forbidden");
        app.get(EXPORT).await.assert_error(401, "invalid_token");
        app.post_raw(IMPORT, Some(&admin), line.clone()).await.assert_error(415, "unsupported_media_type");
        // Over 256 KiB: 413 (and 403 for a non-admin, whatever the size).
        let huge = "x".repeat(256 * 1024 + 1);
        app.import(&admin, huge.clone()).await.assert_error(413, "payload_too_large");
        app.import(&token, huge).await.assert_error(403, "forbidden");
        // More than 200 lines: 400, nothing imported.
        let many: Vec<Value> = (0..201).map(|i| json!({ "email": format!("many{i}@example.com"), "username": format!("many{i}") })).collect();
        app.import(&admin, lines(&many)).await.assert_error(400, "too_many_lines");
        assert!(users::find_by_email(app.state.table.as_ref(), "many0@example.com").await.unwrap().is_none());
        // Beyond the 64 KiB of other endpoints, within 256 KiB: 200 lines of about 600 bytes.
        let padded: Vec<Value> = (0..200).map(|i| json!({ "email": format!("pad{i}@example.com"), "username": format!("pad{i}_{}", "p".repeat(20)), "totp_secret": "A".repeat(500) })).collect();
        let body = lines(&padded);
        assert!(body.len() > 64 * 1024);
        let report = app.import(&admin, body).await;
        let report = report.assert_status(200);
        assert_eq!(report["failed"], 200, "every line has a bad TOTP secret");
        app.get_auth(&format!("{EXPORT}?limit=0"), &admin).await.assert_error(400, "validation_failed");
        app.get_auth(&format!("{EXPORT}?cursor=%21"), &admin).await.assert_error(400, "validation_failed");
    }

    async fn an_export_imports_into_an_empty_table_and_everyone_signs_in(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        // Registered users (Argon2id), one with TOTP on and one disabled, and imported ones
        // still on their old hashes.
        let plain = app.new_verified_user().await;
        let with_totp = app.new_verified_user().await;
        let session = app.login_ok(&with_totp).await;
        let (secret, _) = app.enable_totp(&session.token).await;
        let disabled = app.new_user().await;
        app.post_auth(&format!("/api/admin/users/{}/disable", disabled.id), &admin, None).await.assert_status(200);
        let bcrypt_name = unique("zbcrypt");
        let fire_name = unique("mfire");
        let imported = lines(&[
            json!({ "email": format!("{bcrypt_name}@example.com"), "username": bcrypt_name, "password_hash": BCRYPT, "email_verified": true }),
            json!({ "email": format!("{fire_name}@example.com"), "username": fire_name, "password_hash": FIREBASE }),
        ]);
        app.import(&admin, imported).await.assert_status(200);

        let exported = app.export_all(&admin, 2).await;
        assert_eq!(exported.len(), 6, "every user, the admin too: {exported:#?}");
        let of = |email: &str| exported.iter().find(|u| u["email"] == email).unwrap_or_else(|| panic!("{email} exported")).clone();
        assert!(of(&plain.email)["password_hash"].as_str().unwrap().starts_with("$argon2id$"));
        assert_eq!(of(&plain.email)["email_verified"], true);
        assert_eq!(of(&with_totp.email)["totp_secret"], secret.as_str());
        assert_eq!(of(&disabled.email)["disabled"], true);
        assert_eq!(of(&format!("{bcrypt_name}@example.com"))["password_hash"], BCRYPT);

        let target = TestApp::spawn(backend).await;
        let target_admin = target.admin_token().await;
        let resp = target.import(&target_admin, lines(&exported)).await;
        let report = resp.assert_status(200);
        assert_eq!(report["imported"], 6, "{report}");
        // Moved again, nothing is lost: the same export, the target's admin aside.
        let again = target.export_all(&target_admin, 100).await;
        for user in &exported {
            assert!(again.contains(user), "{user} came through");
        }
        // Everyone signs in with the password they had.
        for u in [&plain, &disabled] {
            let resp = target.login(&u.email, &u.password, None).await;
            if u.email == disabled.email {
                resp.assert_error(403, "account_disabled");
            } else {
                resp.assert_status(200);
            }
        }
        target.login(&with_totp.email, &with_totp.password, None).await.assert_error(401, "totp_required");
        let code = target.totp_now(&secret);
        target.login(&with_totp.email, &with_totp.password, Some(&code)).await.assert_status(200);
        target.login(&format!("{bcrypt_name}@example.com"), "U*U", None).await.assert_status(200);
        target.login(&format!("{fire_name}@example.com"), "user1password", None).await.assert_status(200);
        // The source's admin moved too (without admin rights: those are not exported).
        let known = [plain.email.clone(), with_totp.email.clone(), disabled.email.clone(), format!("{bcrypt_name}@example.com"), format!("{fire_name}@example.com")];
        let admin_line = exported.iter().find(|u| !known.iter().any(|k| u["email"] == k.as_str())).unwrap();
        assert!(admin_line["password_hash"].as_str().unwrap().starts_with("$argon2id$"));
        assert!(admin_line.get("is_admin").is_none());
    }
}
