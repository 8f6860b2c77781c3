//! `cargo xtask build`: the release build of the site, in place of cargo-leptos.
//!
//! cargo-leptos builds the same things, but installing it compiles a JavaScript compiler, a CSS
//! compiler, an HTTP client, git and OpenSSL (24 minutes on two cores), and then the wasm-bindgen CLI
//! (5 more). What this project needs of it fits here, on crates that the wasm-bindgen CLI and
//! cargo-leptos themselves use:
//!
//! 1. the browser crate (`lib-package`) for `wasm32-unknown-unknown` in the `lib-profile-release`
//!    profile, linked with relocations so that it can be split, in its own target directory
//!    (`target/front`: its `RUSTFLAGS` would otherwise rebuild the server's dependencies);
//! 2. with `--split`, the WebAssembly split at every lazy island (`wasm_split_cli_support`, as
//!    cargo-leptos does), then `wasm-bindgen --target web` on the main module (`wasm-bindgen-cli-support`, the CLI's
//!    library, at exactly the version the app links), and `wasm-opt -Oz` on every module (npm's
//!    `binaryen`, found on `PATH`);
//!    The JavaScript glue is minified by npm's `terser` (cargo-leptos uses swc for it);
//! 3. the stylesheet and the static files (`assets-dir`) copied into the site;
//! 4. every file of the site precompressed (`.gz`, `.br`), which the server sends when asked;
//! 5. the server (`bin-package`), release, with `LEPTOS_OUTPUT_NAME` set as cargo-leptos sets it.
//!
//! The names come from `[[workspace.metadata.leptos]]` in the workspace's `Cargo.toml` (read through
//! `cargo metadata`), so the same command builds the first-load check's empty template.
//!
//! ```text
//! cargo xtask build [--split] [--frontend-only | --server-only] [--manifest-path DIR/Cargo.toml]
//! ```

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

fn main() {
    if let Err(e) = run(std::env::args_os().skip(1).collect()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Vec<OsString>) -> Result<()> {
    let mut args = args.into_iter();
    let command = args.next().and_then(|a| a.into_string().ok()).unwrap_or_default();
    if command != "build" {
        bail!("usage: cargo xtask build [--split] [--frontend-only | --server-only] [--manifest-path PATH]");
    }
    let mut frontend_only = false;
    let mut server_only = false;
    let mut split = false;
    let mut manifest: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--frontend-only") => frontend_only = true,
            Some("--server-only") => server_only = true,
            Some("--split") => split = true,
            Some("--manifest-path") => {
                manifest = Some(args.next().context("--manifest-path needs a path")?.into())
            }
            _ => bail!("unknown argument {arg:?}"),
        }
    }
    let project = Project::read(manifest.as_deref())?;
    let started = Instant::now();
    if !server_only {
        project.frontend(split)?;
    }
    if !frontend_only {
        project.server()?;
    }
    eprintln!("==> built in {:.0?}", started.elapsed());
    Ok(())
}

/// What `[[workspace.metadata.leptos]]` says, with paths made absolute.
struct Project {
    root: PathBuf,
    target: PathBuf,
    manifest: PathBuf,
    output_name: String,
    lib_package: String,
    lib_features: Vec<String>,
    bin_features: Vec<String>,
    lib_profile: String,
    bin_package: String,
    bin_target: String,
    site_root: PathBuf,
    pkg_dir: String,
    style_file: Option<PathBuf>,
    assets_dir: Option<PathBuf>,
    site_addr: String,
    reload_port: String,
}

impl Project {
    fn read(manifest: Option<&Path>) -> Result<Self> {
        let mut cargo = Command::new(cargo());
        cargo.args(["metadata", "--format-version", "1", "--no-deps"]);
        if let Some(manifest) = manifest {
            cargo.arg("--manifest-path").arg(manifest);
        }
        let out = cargo.output().context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let meta: Value = serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
        let root = PathBuf::from(meta["workspace_root"].as_str().context("no workspace root")?);
        let target = PathBuf::from(meta["target_directory"].as_str().context("no target directory")?);
        // `[[workspace.metadata.leptos]]`, or a single package's `[package.metadata.leptos]`.
        let package = &meta["packages"][0];
        let (leptos, own_package) = match &meta["metadata"]["leptos"][0] {
            Value::Object(_) => (&meta["metadata"]["leptos"][0], None),
            _ => (&package["metadata"]["leptos"], package["name"].as_str()),
        };
        let text = |key: &str| leptos[key].as_str().map(str::to_owned);
        let needed = |key: &str| text(key).with_context(|| format!("the leptos metadata has no {key}"));
        let features = |key: &str, default: &str| {
            let list: Vec<&str> =
                leptos[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let mut args = Vec::new();
            if leptos[default].as_bool() == Some(false) {
                args.push("--no-default-features".to_owned());
            }
            if !list.is_empty() {
                args.push(format!("--features={}", list.join(",")));
            }
            args
        };
        let lib_package = text("lib-package").or(own_package.map(str::to_owned)).context("no lib-package")?;
        let bin_package = text("bin-package").or(own_package.map(str::to_owned)).unwrap_or_default();
        Ok(Self {
            lib_features: features("lib-features", "lib-default-features"),
            bin_features: features("bin-features", "bin-default-features"),
            output_name: needed("output-name")?,
            lib_profile: text("lib-profile-release").unwrap_or_else(|| "release".into()),
            bin_target: text("bin-target").unwrap_or_else(|| bin_package.clone()),
            bin_package,
            lib_package,
            site_root: root.join(text("site-root").unwrap_or_else(|| "target/site".into())),
            pkg_dir: text("site-pkg-dir").unwrap_or_else(|| "pkg".into()),
            style_file: text("style-file").map(|f| root.join(f)),
            assets_dir: text("assets-dir").map(|d| root.join(d)),
            site_addr: text("site-addr").unwrap_or_else(|| "127.0.0.1:3000".into()),
            reload_port: leptos["reload-port"].as_u64().unwrap_or(3001).to_string(),
            manifest: manifest.map_or_else(|| root.join("Cargo.toml"), Path::to_path_buf),
            root,
            target,
        })
    }

    /// The variables cargo-leptos sets for both builds; `LEPTOS_OUTPUT_NAME` is read at compile time.
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LEPTOS_OUTPUT_NAME", self.output_name.clone()),
            ("LEPTOS_SITE_ROOT", self.site_root.display().to_string()),
            ("LEPTOS_SITE_PKG_DIR", self.pkg_dir.clone()),
            ("LEPTOS_SITE_ADDR", self.site_addr.clone()),
            ("LEPTOS_RELOAD_PORT", self.reload_port.clone()),
            ("LEPTOS_HASH_FILES", "false".into()),
        ]
    }

    fn frontend(&self, split: bool) -> Result<()> {
        let pkg = self.site_root.join(&self.pkg_dir);
        if self.site_root.exists() {
            fs::remove_dir_all(&self.site_root)
                .with_context(|| format!("emptying {}", self.site_root.display()))?;
        }
        fs::create_dir_all(&pkg)?;

        step("compiling the WebAssembly");
        let front_target = self.target.join("front");
        let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if split {
            rustflags.push_str(" -Clink-args=--emit-relocs");
        }
        let mut cargo = Command::new(cargo());
        cargo
            .arg("build")
            .arg("--manifest-path")
            .arg(&self.manifest)
            .args(["--package", &self.lib_package, "--lib", "--target", "wasm32-unknown-unknown"])
            .args(["--profile", &self.lib_profile])
            .args(&self.lib_features)
            .arg("--target-dir")
            .arg(&front_target)
            .env("RUSTFLAGS", rustflags.trim())
            .envs(self.envs());
        run_command(&mut cargo)?;
        let profile_dir = if self.lib_profile == "dev" { "debug" } else { &self.lib_profile };
        let built = front_target
            .join("wasm32-unknown-unknown")
            .join(profile_dir)
            .join(format!("{}.wasm", self.lib_package.replace('-', "_")));
        let input = fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
        let mut modules = Vec::new();

        let main_input = if split {
            step("splitting it at the lazy islands");
            let split_main = front_target.join(format!("{}_split.wasm", self.output_name));
            let main_module = format!("./{}.js", self.output_name);
            let split = wasm_split_cli_support::transform({
                let mut opts = wasm_split_cli_support::Options::new(&input);
                opts.output_dir = &pkg;
                opts.main_out_path = &split_main;
                opts.main_module = &main_module;
                opts.link_name = "./__wasm_split.______________________.js";
                opts
            })
            .map_err(|e| anyhow::anyhow!("splitting the WebAssembly: {e:#}"))?;
            let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
            fs::write(pkg.join("__wasm_split_manifest.json"), manifest)?;
            modules.extend(split.split_modules);
            split_main
        } else {
            built
        };

        step("generating the JavaScript bindings");
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&main_input)
            .out_name(&self.output_name)
            .web(true)?
            .keep_lld_exports(split)
            .demangle(!split)
            .generate(&pkg)
            .context("wasm-bindgen")?;
        // The name Leptos's loader and ours use (as cargo-leptos renames it).
        let main_wasm = pkg.join(format!("{}.wasm", self.output_name));
        fs::rename(pkg.join(format!("{}_bg.wasm", self.output_name)), &main_wasm)?;
        let _ = fs::remove_file(pkg.join(format!("{}_bg.wasm.d.ts", self.output_name)));
        let _ = fs::remove_file(pkg.join(format!("{}.d.ts", self.output_name)));

        step("optimising every module with wasm-opt");
        modules.insert(0, main_wasm);
        for module in &modules {
            let mut opt = Command::new("wasm-opt");
            opt.args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"])
                .arg(module)
                .arg("-o")
                .arg(module);
            run_command(&mut opt).context("wasm-opt (npm's binaryen, in end2end/node_modules/.bin)")?;
        }

        step("minifying the JavaScript glue with terser");
        let glue = pkg.join(format!("{}.js", self.output_name));
        let mut terser = Command::new("terser");
        terser.arg(&glue).args(["--module", "--compress", "--mangle", "--output"]).arg(&glue);
        run_command(&mut terser).context("terser (npm, in end2end/node_modules/.bin)")?;

        step("copying the stylesheet and the static files");
        if let Some(style) = &self.style_file {
            fs::copy(style, pkg.join(format!("{}.css", self.output_name)))
                .with_context(|| format!("copying {}", style.display()))?;
        }
        if let Some(assets) = &self.assets_dir {
            copy_dir(assets, &self.site_root)?;
        }

        step("precompressing the site (gzip, brotli)");
        precompress(&self.site_root)?;
        Ok(())
    }

    fn server(&self) -> Result<()> {
        step("compiling the server");
        let mut cargo = Command::new(cargo());
        cargo
            .arg("build")
            .arg("--manifest-path")
            .arg(&self.manifest)
            .args(["--package", &self.bin_package, "--bin", &self.bin_target, "--release"])
            .args(&self.bin_features)
            .current_dir(&self.root)
            .envs(self.envs());
        run_command(&mut cargo)
    }
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn run_command(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", command.get_program());
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Writes `F.gz` and `F.br` next to every file `F` under `dir`.
fn precompress(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            precompress(&path)?;
            continue;
        }
        let name = path.to_string_lossy();
        if name.ends_with(".gz") || name.ends_with(".br") {
            continue;
        }
        let data = fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data)?;
        fs::write(format!("{name}.gz"), gz.finish()?)?;
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams::default();
        brotli::BrotliCompress(&mut data.as_slice(), &mut br, &params)?;
        fs::write(format!("{name}.br"), br)?;
    }
    Ok(())
}
