//! The browser's entry point: brings the server-rendered page's islands to life (the islands themselves
//! are exported by the `app` crate, which this crate links).

use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
