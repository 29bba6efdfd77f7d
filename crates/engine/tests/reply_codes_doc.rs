//! `docs/reply-codes.md` says what the host sends: each row must match
//! `Reason::code` for the three tables, and name whether a load run
//! counts it as rejected.

use cardwire_codec::CodeTable;
use cardwire_engine::reply_codes::Reason;

fn kebab(r: Reason) -> String {
    let mut out = String::new();
    for (i, c) in format!("{r:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn the_reply_code_document_matches_the_mapping() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/reply-codes.md"
    ))
    .expect("docs/reply-codes.md");
    for r in Reason::all() {
        let name = kebab(r);
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")) && l.matches('|').count() == 7)
            .unwrap_or_else(|| panic!("no row for {name}"));
        let cols: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cols[3], r.code(CodeTable::Cups), "{name} cups");
        assert_eq!(cols[4], r.code(CodeTable::Iso87), "{name} iso87");
        assert_eq!(cols[5], r.code(CodeTable::Iso93), "{name} iso93");
        let load = if r.is_rejection() {
            "rejected"
        } else {
            "decided"
        };
        assert_eq!(cols[6], load, "{name} load");
    }
}
