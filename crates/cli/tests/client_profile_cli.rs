//! Profiles, card files and templates from the command line: what is
//! printed to start from, and bad files refused with the place named,
//! without a panic and without echoing keys or card numbers. No network.

#![allow(missing_docs, clippy::unwrap_used)]

mod net_support;

use net_support::{cardwire, scratch, text};

const KEY: &str = "0123456789ABCDEFFEDCBA9876543210";
const PAN: &str = "4761739001010010";

#[test]
fn show_templates_prints_a_file_the_terminal_takes_back() {
    let dir = scratch("show-templates");
    for spec in ["cups", "iso87ascii", "iso87binary"] {
        let o = cardwire(&dir, &["terminal", "--spec", spec, "--show-templates"]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.contains("[sale]\nmti = \"0200\""), "{out}");
        assert!(out.contains("[reversal]\nmti = \"0400\""), "{out}");
        // Printed, then given back with a change on top.
        let file = dir.join(format!("{spec}.toml"));
        std::fs::write(
            &file,
            out.replace("3 = \"{processing_code|000000}\"", "3 = \"003000\""),
        )
        .unwrap();
        let o = cardwire(
            &dir,
            &[
                "terminal",
                "--spec",
                spec,
                "--templates",
                file.to_str().unwrap(),
                "--show-templates",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("3 = \"003000\""),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn bad_files_are_refused_naming_the_place_and_never_the_secret() {
    let dir = scratch("bad-client-files");
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let templates = write(
        "t.toml",
        "[void]\nmti = \"0200\"\n[void.fields]\n42 = \"{merchant}{stan}\"\n",
    );
    let cards = write(
        "c.toml",
        &format!("[[cards]]\nlabel = \"shop-card\"\npan = \"{PAN}\"\nexpiry = \"3013\"\n"),
    );
    // An unquoted key: the TOML parser would quote the line.
    let profile = write(
        "p.toml",
        &format!("[terminal]\nkeys = \"static\"\n[terminal.static_keys]\nmak = {KEY}\n"),
    );
    let cases: [(&[&str], &str); 5] = [
        (
            &["--templates", &templates, "signon"],
            "[void] field 42: fixed length is 15",
        ),
        (
            &[
                "--cards",
                &cards,
                "sale",
                "--card",
                "shop-card",
                "--amount",
                "1",
            ],
            "card shop-card: expiry",
        ),
        (&["--profile", &profile, "signon"], "not TOML"),
        (&["--keys", "static", "signon"], "static keys need a MAK"),
        (
            &["--keys", "cups", "--signon", "echo", "signon"],
            "come with the sign-on",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec![
            "terminal",
            "--connect",
            "127.0.0.1:9",
            "--spec",
            "iso87ascii",
            "--state",
            "s.json",
        ];
        all.extend_from_slice(args);
        let o = cardwire(&dir, &all);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(want), "{args:?}: {t}");
        assert!(!t.contains(KEY) && !t.contains(PAN), "{args:?}: {t}");
        assert!(!t.contains("panicked"), "{args:?}: {t}");
    }
}
