//! Keys and release signatures made by real GnuPG (`gpg --batch`, a temporary GNUPGHOME):
//! an independent signer for the plugin's OpenPGP verification.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// One GnuPG home; removed when dropped.
pub struct Gpg {
    home: tempfile::TempDir,
}

/// gpg-agent does not love concurrent key generation in one home: one gpg at a time.
static LOCK: Mutex<()> = Mutex::new(());

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::Builder::new().prefix("gnupg-").tempdir().expect("GNUPGHOME");
        std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        Gpg { home }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `gpg --batch …` with no passphrase, `stdin` fed to it; panics on failure.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home())
            .args(["--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gpg (is GnuPG installed?)");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write to gpg");
        let out = child.wait_with_output().expect("gpg runs");
        assert!(out.status.success(), "gpg {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// A new primary key for `uid` of `algo` (`rsa2048`, `ed25519`) with `usage`
    /// (`sign`, or `cert` for a key that signs only through subkeys); its fingerprint.
    pub fn gen_key(&self, uid: &str, algo: &str, usage: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, usage, "never"], b"");
        self.fingerprints(uid)[0].clone()
    }

    /// Adds a signing subkey to `primary`; the subkey's fingerprint.
    pub fn add_signing_subkey(&self, primary: &str, algo: &str) -> String {
        self.run(&["--quick-add-key", primary, algo, "sign", "never"], b"");
        self.fingerprints(primary).last().expect("subkey fingerprint").clone()
    }

    /// Revokes the first subkey of `primary` (key is no longer valid, reason 0).
    pub fn revoke_first_subkey(&self, primary: &str) {
        let answers = b"key 1\nrevkey\ny\n0\n\ny\nsave\n";
        self.run(&["--command-fd", "0", "--status-fd", "2", "--edit-key", primary], answers);
    }

    /// Fingerprints of the key matching `who`: the primary first, then its subkeys.
    pub fn fingerprints(&self, who: &str) -> Vec<String> {
        let out = self.run(&["--with-colons", "--list-keys", who], b"");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .filter_map(|l| l.split(':').nth(9).map(str::to_string))
            .collect()
    }

    /// The armored public key (with its subkeys and revocations).
    pub fn export(&self, who: &str) -> String {
        String::from_utf8(self.run(&["--armor", "--export", who], b"").stdout).expect("armored key is text")
    }

    /// Moves the secret key of `who` into `other` (to keep signing with a key later revoked here).
    pub fn copy_secret_to(&self, who: &str, other: &Gpg) {
        let secret = self.run(&["--export-secret-keys", who], b"").stdout;
        other.run(&["--import"], &secret);
    }

    /// An OpenPGP signed message of `data` by exactly the key or subkey `signer`;
    /// compressed (gpg's default) or not.
    pub fn sign(&self, signer: &str, data: &[u8], compress: bool) -> Vec<u8> {
        let user = format!("{signer}!");
        let mut args = vec!["--local-user", user.as_str(), "--sign"];
        if !compress {
            args.extend(["--compress-algo", "none"]);
        }
        self.run(&args, data).stdout
    }
}

/// The keys every signature test shares (made once: RSA generation takes seconds).
pub struct TestKeys {
    pub gpg: Gpg,
    /// Signs what the revoked subkey signed, in a home where it is not revoked.
    pub revoked_signer: Gpg,
    pub rsa: String,
    pub ed25519: String,
    /// Primary key (certification only) and its signing subkey.
    pub with_subkey: (String, String),
    /// Primary key and a signing subkey that is revoked in `gpg`.
    pub with_revoked_subkey: (String, String),
    /// A key in no keyring given to the plugin.
    pub unknown: String,
}

/// The shared keys, made on first use.
pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let gpg = Gpg::new();
        let rsa = gpg.gen_key("Release RSA <rsa@release.test>", "rsa2048", "sign");
        let ed25519 = gpg.gen_key("Release Ed25519 <ed@release.test>", "ed25519", "sign");
        let primary = gpg.gen_key("Release Subkey <sub@release.test>", "ed25519", "cert");
        let subkey = gpg.add_signing_subkey(&primary, "ed25519");
        let revoked_primary = gpg.gen_key("Release Revoked <revoked@release.test>", "ed25519", "cert");
        let revoked_sub = gpg.add_signing_subkey(&revoked_primary, "ed25519");
        let revoked_signer = Gpg::new();
        gpg.copy_secret_to(&revoked_primary, &revoked_signer);
        gpg.revoke_first_subkey(&revoked_primary);
        let unknown = gpg.gen_key("Stranger <stranger@release.test>", "ed25519", "sign");
        TestKeys {
            gpg,
            revoked_signer,
            rsa,
            ed25519,
            with_subkey: (primary, subkey),
            with_revoked_subkey: (revoked_primary, revoked_sub),
            unknown,
        }
    })
}

/// The "atomic container signature" JSON for `digest`, as release signatures carry it.
pub fn atomic_payload(digest: &str, identity: &str) -> Vec<u8> {
    serde_json::json!({
        "critical": {
            "type": "atomic container signature",
            "image": {"docker-manifest-digest": digest},
            "identity": {"docker-reference": identity},
        },
        "optional": {"creator": "gpg test signer", "timestamp": 1_700_000_000},
    })
    .to_string()
    .into_bytes()
}

/// A `file://` signature store holding one Ed25519 signature of `digest` claiming
/// `identity`, with the public key beside it: (the store's folder, the key file, the
/// signature's bytes).
pub fn ed25519_file_store(digest: &str, identity: &str) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let k = keys();
    let store = super::temp_dir();
    let sig_dir = store.path().join(digest.replacen(':', "=", 1));
    std::fs::create_dir_all(&sig_dir).expect("mkdir");
    let signature = k.gpg.sign(&k.ed25519, &atomic_payload(digest, identity), false);
    std::fs::write(sig_dir.join("signature-1"), &signature).expect("write signature");
    let key = store.path().join("ed25519.asc");
    std::fs::write(&key, k.gpg.export(&k.ed25519)).expect("write key");
    (store, key, signature)
}
