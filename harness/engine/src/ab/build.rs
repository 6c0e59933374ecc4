//! The base side of an A/B: resolve a git revision, check it out in a worktree of its own and build
//! its `perfgate` binary once into a cache, so a second A/B against the same commit builds nothing;
//! on request, relink it with its functions in a shuffled order (an A/A across code layouts).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// A built base.
#[derive(Clone, Debug)]
pub struct BaseBuild {
    /// The commit the revision resolved to.
    pub commit: String,
    /// The cached binary.
    pub exe: PathBuf,
    /// The worktree it was built from (its perfgate root).
    pub root: PathBuf,
    /// Whether the binary came from the cache (nothing was built).
    pub cached: bool,
}

fn git(repo: &Path, args: &[&str]) -> Result<std::process::Output, Error> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|source| Error::Io {
            path: PathBuf::from("git"),
            source,
        })
}

fn stdout_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The commit `rev` names in the repository holding `root`, or a usage error naming `rev`.
pub fn resolve(root: &Path, rev: &str) -> Result<String, Error> {
    let bad = |why: String| {
        Error::Usage(format!(
            "--base {rev:?}: {why}; pass a commit, branch or tag of this repository (e.g. --base HEAD, --base origin/main)"
        ))
    };
    if rev.starts_with('-') || rev.trim().is_empty() {
        return Err(bad("not a revision".to_owned()));
    }
    let out = git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )?;
    if !out.status.success() {
        let inside = git(root, &["rev-parse", "--is-inside-work-tree"])?;
        if !inside.status.success() {
            return Err(bad(format!(
                "{} is not inside a git repository",
                root.display()
            )));
        }
        return Err(bad("no such commit".to_owned()));
    }
    Ok(stdout_line(&out))
}

/// The top level of the git work tree holding `root`.
pub fn toplevel(root: &Path) -> Result<PathBuf, Error> {
    let out = git(root, &["rev-parse", "--show-toplevel"])?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "{} is not inside a git repository: `ab` builds the base from git",
            root.display()
        )));
    }
    Ok(PathBuf::from(stdout_line(&out)))
}

/// The head's commit and whether its work tree has uncommitted changes.
pub fn head_state(root: &Path) -> (String, bool) {
    let commit = git(root, &["rev-parse", "HEAD"])
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_owned(), |o| stdout_line(&o));
    let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    (commit, dirty)
}

/// Where one commit's worktree, binary and build log live under `cache`.
fn layout(cache: &Path, commit: &str) -> (PathBuf, PathBuf, PathBuf) {
    let short = commit.get(..12).unwrap_or(commit);
    (
        cache.join(format!("src-{short}")),
        cache.join("bin").join(format!("perfgate-{commit}")),
        cache.join(format!("build-{short}.log")),
    )
}

/// Checks out `rev` of the repository holding `root` into a worktree under `cache` and builds its
/// `perfgate` binary (release) with `cache/target` as the target directory, unless that commit's
/// binary is cached already. `say` hears what is going on.
pub fn prepare(
    root: &Path,
    rev: &str,
    cache: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<BaseBuild, Error> {
    let commit = resolve(root, rev)?;
    let top = toplevel(root)?;
    let inner = root
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let (worktree, exe, log) = layout(cache, &commit);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(cache.join("bin")).map_err(io(cache))?;
    if !worktree.join(".git").exists() {
        say(&format!(
            "checking out {rev} ({}) into {}",
            &commit[..10.min(commit.len())],
            worktree.display()
        ));
        let _ = git(&top, &["worktree", "prune"]);
        if worktree.exists() {
            std::fs::remove_dir_all(&worktree).map_err(io(&worktree))?;
        }
        let out = git(
            &top,
            &[
                "worktree",
                "add",
                "--detach",
                "--force",
                &worktree.to_string_lossy(),
                &commit,
            ],
        )?;
        if !out.status.success() {
            return Err(Error::Usage(format!(
                "--base {rev:?}: git worktree add failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let base_root = worktree.join(&inner);
    if exe.is_file() {
        say(&format!(
            "base {rev} ({}) is built already: {}",
            &commit[..10.min(commit.len())],
            exe.display()
        ));
        return Ok(BaseBuild {
            commit,
            exe,
            root: base_root,
            cached: true,
        });
    }
    say(&format!(
        "building the base {rev} (release, target dir {}; log {})",
        cache.join("target").display(),
        log.display()
    ));
    cargo_into(
        &base_root,
        &cache.join("target"),
        &["build", "--release", "--bin", "perfgate"],
        &log,
        Some(&exe),
    )
    .map_err(|why| {
        Error::Usage(format!(
            "--base {rev:?}: building its perfgate binary failed {why}"
        ))
    })?;
    Ok(BaseBuild {
        commit,
        exe,
        root: base_root,
        cached: false,
    })
}

/// The linker argument that lays out `base`'s functions in an order drawn from `seed` (lld's
/// `--shuffle-sections`; rustc puts each function in a section of its own).
pub fn shuffle_arg(seed: u64) -> String {
    format!("link-arg=-Wl,--shuffle-sections=.text*={seed}")
}

/// `base` relinked with its functions in the order `seed` draws: only the binary's own crate is
/// rebuilt (a second or two), and the result is cached beside the base's. Against the same commit
/// (`--base HEAD`) an A/B then compares one source in two code layouts: what moves is layout.
/// Needs lld, Rust's default linker on x86_64 Linux since 1.90.
pub fn relink_shuffled(
    base: &BaseBuild,
    cache: &Path,
    seed: u64,
    say: &mut dyn FnMut(&str),
) -> Result<BaseBuild, Error> {
    let (_, plain, log) = layout(cache, &base.commit);
    let exe = plain.with_file_name(format!("perfgate-{}-layout{seed}", base.commit));
    let log = log.with_file_name(format!(
        "{}-layout{seed}.log",
        log.file_stem().unwrap_or_default().to_string_lossy()
    ));
    let shuffled = |cached| BaseBuild {
        exe: exe.clone(),
        cached,
        ..base.clone()
    };
    if exe.is_file() {
        say(&format!(
            "the base relinked with layout seed {seed} is built already: {}",
            exe.display()
        ));
        return Ok(shuffled(true));
    }
    let bad = |why: String| {
        Error::Usage(format!(
            "--base-layout {seed}: relinking the base with its functions shuffled failed {why}; \
             the linker must be lld (rustc's default on x86_64 Linux since 1.90), or leave \
             --base-layout out"
        ))
    };
    let package = bin_package(&base.root).map_err(|why| bad(format!("({why})")))?;
    say(&format!(
        "relinking the base with its functions shuffled (seed {seed}; log {})",
        log.display()
    ));
    cargo_into(
        &base.root,
        &cache.join("target"),
        &relink_args(&package, Some(seed)),
        &log,
        Some(&exe),
    )
    .map_err(bad)?;
    Ok(shuffled(false))
}

/// `cargo` arguments that relink `package`'s `perfgate` binary with its functions shuffled by
/// `seed`, or (`None`) link it as `cargo build` does.
fn relink_args(package: &str, seed: Option<u64>) -> Vec<String> {
    let mut args: Vec<String> = ["rustc", "--release", "-p", package, "--bin", "perfgate"]
        .map(str::to_owned)
        .to_vec();
    if let Some(seed) = seed {
        args.extend(["--".to_owned(), "-C".to_owned(), shuffle_arg(seed)]);
    }
    args
}

/// The head (the working tree at `root`, target directory `target`) linked once per seed with its
/// functions shuffled, each copied into `dir` as `perfgate-head-layoutSEED`; then its own binary is
/// linked back as it was. Each relink rebuilds only the binary's crate.
pub fn relink_head(
    root: &Path,
    target: &Path,
    dir: &Path,
    seeds: &[u64],
    say: &mut dyn FnMut(&str),
) -> Result<Vec<PathBuf>, Error> {
    let bad = |why: String| {
        Error::Usage(format!(
            "--layouts: relinking the head with its functions shuffled failed {why}; the linker \
             must be lld (rustc's default on x86_64 Linux since 1.90), or leave --layouts out"
        ))
    };
    let package = bin_package(root).map_err(|why| bad(format!("({why})")))?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    say(&format!(
        "relinking the head in {} layouts (seeds {seeds:?}; logs in {})",
        seeds.len(),
        dir.display()
    ));
    let mut exes = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let exe = dir.join(format!("perfgate-head-layout{seed}"));
        let log = dir.join(format!("head-layout{seed}.log"));
        let args = relink_args(&package, Some(seed));
        cargo_into(root, target, &args, &log, Some(&exe)).map_err(bad)?;
        exes.push(exe);
    }
    let log = dir.join("head-default.log");
    cargo_into(root, target, &relink_args(&package, None), &log, None).map_err(bad)?;
    Ok(exes)
}

/// The package of the workspace at `root` that has the `perfgate` binary (`cargo rustc` needs it).
fn bin_package(root: &Path) -> Result<String, String> {
    let out = cargo()
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let has_bin = |p: &&serde_json::Value| {
        p["targets"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                t["name"] == "perfgate"
                    && t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
        })
    };
    meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(has_bin))
        .and_then(|p| p["name"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| "no package of this workspace has a `perfgate` binary".to_owned())
}

/// The cargo that runs us (`CARGO`), else the one on the path.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs cargo with `args` in `dir`, target directory `target` and its output in `log`, then copies
/// the release `perfgate` binary it made to `exe`, if given (a copy, then a rename: an interrupted
/// copy never looks like a cached binary). The error says why, naming the log.
fn cargo_into<S: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    target: &Path,
    args: &[S],
    log: &Path,
    exe: Option<&Path>,
) -> Result<(), String> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| format!("({path}: {e})")
    };
    let log_file = std::fs::File::create(log).map_err(io(log))?;
    let err_file = log_file.try_clone().map_err(io(log))?;
    let status = cargo()
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .stdout(log_file)
        .stderr(err_file)
        .status()
        .map_err(io(Path::new("cargo")))?;
    let built = target.join("release").join("perfgate");
    if !status.success() || !built.is_file() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        return Err(format!(
            "(log: {}):\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    if let Some(exe) = exe {
        let partial = exe.with_extension("partial");
        std::fs::copy(&built, &partial).map_err(io(&partial))?;
        std::fs::rename(&partial, exe).map_err(io(exe))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .expect("git runs")
            .success();
        assert!(ok, "git {args:?}");
    }

    /// A repository with two commits and a tag.
    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        sh(d.path(), &["init", "-q"]);
        std::fs::write(d.path().join("perfgate.toml"), "").expect("write");
        sh(d.path(), &["add", "."]);
        sh(d.path(), &["commit", "-q", "-m", "one"]);
        sh(d.path(), &["tag", "v1"]);
        std::fs::write(d.path().join("perfgate.toml"), "# two\n").expect("write");
        sh(d.path(), &["commit", "-q", "-am", "two"]);
        d
    }

    #[test]
    fn revisions_resolve_and_bad_ones_are_named() {
        let d = repo();
        let head = resolve(d.path(), "HEAD").expect("HEAD resolves");
        let v1 = resolve(d.path(), "v1").expect("tag resolves");
        assert_eq!(head.len(), 40);
        assert_ne!(head, v1);
        assert_eq!(resolve(d.path(), "HEAD~1").expect("parent"), v1);
        for bad in ["no-such-branch", "--help", ""] {
            let e = resolve(d.path(), bad).expect_err("refused").to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let outside = tempfile::tempdir().expect("tempdir");
        let e = resolve(outside.path(), "HEAD")
            .expect_err("no repo")
            .to_string();
        assert!(e.contains("not inside a git repository"), "{e}");
    }

    /// `repo()`'s cache for `ab` (`target/perfgate-ab`) holding a binary for v1, so `prepare`
    /// checks out v1's worktree and does not build: the cache, v1's commit, its worktree and binary.
    fn cached_v1(root: &Path) -> (PathBuf, String, PathBuf, PathBuf) {
        let cache = root.join("target/perfgate-ab");
        let v1 = resolve(root, "v1").expect("tag");
        let (worktree, exe, _) = layout(&cache, &v1);
        std::fs::create_dir_all(exe.parent().expect("dir")).expect("mkdir");
        std::fs::write(&exe, "binary").expect("write");
        (cache, v1, worktree, exe)
    }

    #[test]
    fn the_worktree_is_made_once_and_a_cached_binary_is_reused() {
        let d = repo();
        let (cache, _, worktree, exe) = cached_v1(d.path());
        let mut said = Vec::new();
        let b =
            prepare(d.path(), "v1", &cache, &mut |s| said.push(s.to_owned())).expect("prepared");
        assert!(b.cached);
        assert_eq!(b.exe, exe);
        assert_eq!(b.root, worktree);
        assert_eq!(
            std::fs::read_to_string(worktree.join("perfgate.toml")).expect("checked out"),
            "",
            "the worktree holds v1's files, not the head's"
        );
        // A second time reuses the worktree too.
        let again = prepare(d.path(), "v1", &cache, &mut |_| {}).expect("prepared");
        assert!(again.cached);
        assert!(said.iter().any(|s| s.contains("checking out")));
        // The head's own work tree is untouched.
        assert_eq!(
            std::fs::read_to_string(d.path().join("perfgate.toml")).expect("head"),
            "# two\n"
        );
    }

    #[test]
    fn a_shuffled_relink_is_cached_beside_the_base_under_its_seed() {
        let d = repo();
        let (cache, v1, _, exe) = cached_v1(d.path());
        let base = prepare(d.path(), "v1", &cache, &mut |_| {}).expect("prepared");
        let seven = exe.with_file_name(format!("perfgate-{v1}-layout7"));
        std::fs::write(&seven, "shuffled").expect("write");
        let mut said = Vec::new();
        let s =
            relink_shuffled(&base, &cache, 7, &mut |s| said.push(s.to_owned())).expect("cached");
        assert!(s.cached);
        assert_eq!(
            (s.exe, s.commit, s.root),
            (seven, base.commit.clone(), base.root.clone())
        );
        assert!(said.iter().any(|s| s.contains("seed 7")), "{said:?}");
        // Another seed is another binary: v1 has no Cargo.toml, so relinking it fails, naming the
        // flag, the log and the linker it needs.
        let e = relink_shuffled(&base, &cache, 8, &mut |_| {})
            .expect_err("nothing to relink")
            .to_string();
        assert!(e.contains("--base-layout 8") && e.contains("lld"), "{e}");
        assert_eq!(
            shuffle_arg(8),
            "link-arg=-Wl,--shuffle-sections=.text*=8",
            "every function's section, seeded"
        );
        assert_eq!(
            relink_args("app", Some(8)).join(" "),
            "rustc --release -p app --bin perfgate -- -C link-arg=-Wl,--shuffle-sections=.text*=8"
        );
        assert_eq!(
            relink_args("app", None).join(" "),
            "rustc --release -p app --bin perfgate",
            "linked back as cargo build links it"
        );
    }

    #[test]
    fn the_package_with_the_perfgate_binary_is_found_in_the_workspace() {
        let d = tempfile::tempdir().expect("tempdir");
        let write = |path: &str, text: &str| {
            let p = d.path().join(path);
            std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"lib\", \"app\"]\nresolver = \"2\"\n",
        );
        write(
            "lib/Cargo.toml",
            "[package]\nname = \"lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        write("lib/src/lib.rs", "");
        write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [[bin]]\nname = \"perfgate\"\npath = \"main.rs\"\n",
        );
        write("app/main.rs", "fn main() {}\n");
        assert_eq!(bin_package(d.path()), Ok("app".to_owned()));
        write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        write("app/src/main.rs", "fn main() {}\n");
        let e = bin_package(d.path()).expect_err("no perfgate binary");
        assert!(e.contains("`perfgate` binary"), "{e}");
    }

    #[test]
    fn a_base_that_does_not_build_is_an_error_naming_the_log() {
        let d = repo();
        let cache = d.path().join("target/perfgate-ab");
        let e = prepare(d.path(), "HEAD", &cache, &mut |_| {})
            .expect_err("no Cargo.toml, no build")
            .to_string();
        assert!(e.contains("building its perfgate binary failed"), "{e}");
        assert!(e.contains("build-"), "{e}");
    }
}
