//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the `migrations/`
//! folder at compile time, and cargo does not otherwise know the files are inputs.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
