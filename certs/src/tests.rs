use super::*;
use time::{Duration, OffsetDateTime};

fn hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("readable")
}

#[test]
fn creates_then_reuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = OffsetDateTime::now_utc();
    let (certs, outcome) = ensure_at(dir.path(), now, &hosts()).expect("created");
    assert_eq!(outcome, Outcome::Created);
    let first = read(&certs.server_cert);
    assert_eq!(load_certs(&certs.ca_cert).expect("ca").len(), 1);
    load_key(&certs.server_key).expect("key");

    let (again, outcome) = ensure_at(dir.path(), now, &hosts()).expect("reused");
    assert_eq!(outcome, Outcome::Reused);
    assert_eq!(read(&again.server_cert), first);
}

#[cfg(unix)]
#[test]
fn keys_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (certs, _) = ensure_at(dir.path(), OffsetDateTime::now_utc(), &hosts()).expect("created");
    for key in [certs.server_key.clone(), dir.path().join(CA_KEY_FILE)] {
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
}

#[test]
fn missing_server_cert_is_reissued_by_the_same_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = OffsetDateTime::now_utc();
    let (certs, _) = ensure_at(dir.path(), now, &hosts()).expect("created");
    let ca = read(&certs.ca_cert);
    std::fs::remove_file(&certs.server_cert).expect("rm");
    let (certs, outcome) = ensure_at(dir.path(), now, &hosts()).expect("reissued");
    assert_eq!(outcome, Outcome::ServerReissued);
    assert_eq!(read(&certs.ca_cert), ca);
}

#[test]
fn expiring_server_cert_is_reissued_and_expired_ca_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = OffsetDateTime::now_utc();
    let (certs, _) = ensure_at(dir.path(), now, &hosts()).expect("created");
    let ca = read(&certs.ca_cert);

    let later = now + Duration::days(SERVER_VALIDITY_DAYS);
    let (certs, outcome) = ensure_at(dir.path(), later, &hosts()).expect("renewed");
    assert_eq!(outcome, Outcome::ServerReissued);
    assert_eq!(read(&certs.ca_cert), ca);

    let much_later = now + Duration::days(CA_VALIDITY_DAYS);
    let (certs, outcome) = ensure_at(dir.path(), much_later, &hosts()).expect("recreated");
    assert_eq!(outcome, Outcome::Created);
    assert_ne!(read(&certs.ca_cert), ca);
}

#[test]
fn a_new_host_name_gets_a_new_server_cert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = OffsetDateTime::now_utc();
    ensure_at(dir.path(), now, &hosts()).expect("created");
    let mut more = hosts();
    more.push("chat.example".into());
    let (_, outcome) = ensure_at(dir.path(), now, &more).expect("reissued");
    assert_eq!(outcome, Outcome::ServerReissued);
}

#[test]
fn garbage_files_are_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(CA_CERT_FILE), "not a cert").expect("write");
    std::fs::write(dir.path().join(CA_KEY_FILE), "not a key").expect("write");
    let (certs, outcome) =
        ensure_at(dir.path(), OffsetDateTime::now_utc(), &hosts()).expect("created");
    assert_eq!(outcome, Outcome::Created);
    load_certs(&certs.ca_cert).expect("valid now");
}

#[test]
fn load_reports_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.pem");
    std::fs::write(&path, "").expect("write");
    let err = load_certs(&path).expect_err("empty");
    assert!(err.to_string().contains("empty.pem"), "{err}");
}
