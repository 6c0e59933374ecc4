//! The engine's dependency rule (DESIGN.md): it never imports the components, the fixtures, the
//! scenarios or tokio, so it can gate results from anywhere and another project can use it.

use std::path::Path;

#[test]
fn the_engine_depends_on_no_component_fixture_scenario_or_tokio() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the engine's Cargo.toml");
    let doc: toml::Table = text.parse().expect("valid TOML");
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = doc.get(table).and_then(|d| d.as_table()) else {
            continue;
        };
        for forbidden in ["components", "fixtures", "scenarios", "tokio", "tokio-test"] {
            assert!(
                !deps.contains_key(forbidden),
                "{}: [{table}] has `{forbidden}`; the engine must not depend on it",
                manifest.display()
            );
        }
    }
}
