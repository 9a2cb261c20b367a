//! The Redis image the Docker backend runs, and small FROM-scratch images
//! built from host binaries.
//!
//! Choosing the Redis image, in order: the image the user asked for
//! (`--image` / `GRABSTORM_REDIS_IMAGE`, pulled only then and only when it
//! is absent locally); else a local `redis:7*` image; else an image built
//! here from the host's `redis-server`: the binary, the shared libraries
//! `ldd` lists and the dynamic loader, in a `FROM scratch` image tagged by
//! the hash of its content, so it is built once and reused. Nothing is ever
//! pulled unasked: a pull leaves the machine, the lab's traffic does not.
//!
//! The same scratch builder makes the `ip` helper image the faults use for
//! partitions ([`build_scratch_image`]).

use crate::topology::MANAGED_LABEL;
use anyhow::{bail, Context, Result};
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions, ListImagesOptions};
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Repository of the Redis image built from the host's `redis-server`.
pub const BUILT_REDIS_REPO: &str = "grabstorm-redis";

/// Bound on one image build (a scratch image of ~20 MB builds in about a second).
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on a pull the user asked for.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on one quick engine call (inspect, list).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Bumped when the layout of built images changes, so old tags are not reused.
const SCRATCH_LAYOUT_VERSION: &str = "grabstorm-scratch-v1";

/// The PATH of built images: where binaries are placed (their host paths).
const SCRATCH_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Makes sure a Redis image is available and says which one and why.
///
/// Returns the image reference and a one-line account of how it was chosen
/// (for the user: which image runs their nodes).
pub async fn ensure_redis_image(
    docker: &Docker,
    requested: Option<String>,
) -> Result<(String, String)> {
    if let Some(image) = requested.filter(|s| !s.trim().is_empty()) {
        return ensure_requested_image(docker, image.trim()).await;
    }
    if let Some(image) = local_redis7_image(docker).await? {
        let how = format!("image {image}: a local redis:7 image (no pull)");
        return Ok((image, how));
    }
    let server = find_on_path("redis-server").ok_or_else(|| {
        anyhow::anyhow!(
            "no Redis image: no local redis:7* image and no redis-server on PATH to build one from; \
             install redis-server (apt-get install redis-server) or pass --image IMAGE \
             (e.g. --image redis:7.2, which is pulled)"
        )
    })?;
    let context =
        ScratchContext::collect(std::slice::from_ref(&server), &["data", "etc/redis", "tmp"])
            .await
            .with_context(|| format!("collecting {} and its libraries", server.display()))?;
    let tag = context.tag(BUILT_REDIS_REPO);
    if image_exists(docker, &tag).await? {
        let how = format!(
            "image {tag}: built earlier from the host's {} (reused)",
            server.display()
        );
        return Ok((tag, how));
    }
    build_context(docker, &tag, context).await?;
    let how = format!(
        "image {tag}: built now FROM scratch from the host's {} and its shared libraries",
        server.display()
    );
    Ok((tag, how))
}

/// Builds (once) a FROM-scratch image holding `binaries` at their host
/// paths, the shared libraries they link, the dynamic loader and a `/tmp`;
/// returns its tag `<repo>:<sha12>`, where the hash covers the content.
/// An image with that tag already present is reused without building.
pub async fn build_scratch_image(
    docker: &Docker,
    repo: &str,
    binaries: &[PathBuf],
) -> Result<String> {
    let context = ScratchContext::collect(binaries, &["tmp"]).await?;
    let tag = context.tag(repo);
    if !image_exists(docker, &tag).await? {
        build_context(docker, &tag, context).await?;
    }
    Ok(tag)
}

/// The user's image: used as is when present, pulled when absent.
async fn ensure_requested_image(docker: &Docker, image: &str) -> Result<(String, String)> {
    if image_exists(docker, image).await? {
        return Ok((
            image.to_string(),
            format!("image {image}: asked for, present locally (no pull)"),
        ));
    }
    tracing::info!(image, "pulling the requested image");
    let (from_image, tag) = split_reference(image);
    let options = CreateImageOptions {
        from_image: Some(from_image.to_string()),
        tag: tag.map(str::to_string),
        ..Default::default()
    };
    let pull = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("pulling image {image}"))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                bail!("pulling image {image}: {detail}");
            }
        }
        Ok(())
    };
    tokio::time::timeout(PULL_TIMEOUT, pull)
        .await
        .with_context(|| format!("pulling image {image}: no result within {PULL_TIMEOUT:?}"))??;
    Ok((
        image.to_string(),
        format!("image {image}: asked for, absent locally, pulled"),
    ))
}

/// Splits `name[:tag]` (or `name@digest`) into what the pull API wants.
/// A bare name gets `latest`: without a tag the engine would pull every tag.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], Some(&image[last_slash + i + 1..])),
        None => (image, Some("latest")),
    }
}

/// The newest local `redis:7*` tag, if any.
async fn local_redis7_image(docker: &Docker) -> Result<Option<String>> {
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "reference".to_string(),
            vec!["redis:7*".to_string()],
        )])),
        ..Default::default()
    };
    let images = tokio::time::timeout(CALL_TIMEOUT, docker.list_images(Some(options)))
        .await
        .context("listing local images: the Docker engine did not answer")?
        .context("listing local images")?;
    let mut tags: Vec<String> = images
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .filter(|t| t.starts_with("redis:7"))
        .collect();
    // Highest version first: "redis:7.2.4" before "redis:7.0".
    tags.sort_by_key(|t| std::cmp::Reverse(version_key(t)));
    Ok(tags.into_iter().next())
}

fn version_key(tag: &str) -> Vec<u64> {
    tag.trim_start_matches("redis:")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether the engine holds `image` (by tag or id).
async fn image_exists(docker: &Docker, image: &str) -> Result<bool> {
    match tokio::time::timeout(CALL_TIMEOUT, docker.inspect_image(image))
        .await
        .with_context(|| format!("inspecting image {image}: the Docker engine did not answer"))?
    {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
    }
}

/// The first executable named `name` on PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The build context of a scratch image: a Dockerfile and a `rootfs/` tree,
/// held as a tar archive whose bytes are deterministic (fixed times and
/// owners, sorted entries), so their hash names the content.
struct ScratchContext {
    tar: Vec<u8>,
}

impl ScratchContext {
    /// Gathers `binaries`, the libraries they link and the loader, plus
    /// empty world-writable `dirs` (relative, e.g. `etc/redis`).
    async fn collect(binaries: &[PathBuf], dirs: &[&str]) -> Result<ScratchContext> {
        // Image path -> host file; a BTreeMap keeps the archive order stable.
        let mut files: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        for binary in binaries {
            let binary = if binary.is_absolute() {
                binary.clone()
            } else {
                find_on_path(&binary.to_string_lossy())
                    .with_context(|| format!("{} is not on PATH", binary.display()))?
            };
            for lib in linked_libraries(&binary).await? {
                files.insert(lib.clone(), lib);
            }
            files.insert(binary.clone(), binary);
        }
        let dirs: Vec<String> = dirs
            .iter()
            .map(|d| d.trim_matches('/').to_string())
            .collect();
        tokio::task::spawn_blocking(move || ScratchContext::archive(&files, &dirs))
            .await
            .context("building the image context")?
    }

    fn archive(files: &BTreeMap<PathBuf, PathBuf>, dirs: &[String]) -> Result<ScratchContext> {
        let mut builder = tar::Builder::new(Vec::new());
        let dockerfile = format!(
            "FROM scratch\nCOPY rootfs/ /\nENV PATH={SCRATCH_PATH}\n# {SCRATCH_LAYOUT_VERSION}\n"
        );
        append_file(&mut builder, "Dockerfile", dockerfile.as_bytes(), 0o644)?;

        // Parent directories first, each once, so modes are ours, not the builder's guess.
        let mut parents: BTreeMap<String, u32> = BTreeMap::new();
        for image_path in files.keys() {
            let mut p = image_path.parent();
            while let Some(dir) = p.filter(|d| *d != Path::new("/")) {
                parents.entry(rel(dir)).or_insert(0o755);
                p = dir.parent();
            }
        }
        for d in dirs {
            // Writable by any user: a redis image may run as a non-root user,
            // and Sentinel rewrites its config by replacing the file.
            let mode = if d == "tmp" { 0o1777 } else { 0o777 };
            parents.insert(d.clone(), mode);
            let mut p = Path::new(d.as_str()).parent();
            while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
                parents
                    .entry(dir.to_string_lossy().into_owned())
                    .or_insert(0o755);
                p = dir.parent();
            }
        }
        for (dir, mode) in &parents {
            append_dir(&mut builder, &format!("rootfs/{dir}/"), *mode)?;
        }
        for (image_path, host_path) in files {
            let content = std::fs::read(host_path)
                .with_context(|| format!("reading {}", host_path.display()))?;
            append_file(
                &mut builder,
                &format!("rootfs/{}", rel(image_path)),
                &content,
                0o755,
            )?;
        }
        let tar = builder
            .into_inner()
            .context("finishing the image context")?;
        Ok(ScratchContext { tar })
    }

    /// `<repo>:<first 12 hex digits of the context's sha256>`.
    fn tag(&self, repo: &str) -> String {
        let digest = Sha256::digest(&self.tar);
        format!("{repo}:{}", &hex::encode(digest)[..12])
    }
}

fn rel(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_string()
}

fn append_file(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    content: &[u8],
    mode: u32,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder
        .append_data(&mut header, path, content)
        .with_context(|| format!("adding {path} to the image context"))
}

fn append_dir(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder
        .append_data(&mut header, path, std::io::empty())
        .with_context(|| format!("adding {path} to the image context"))
}

/// The shared libraries and the loader `binary` needs, as `ldd` lists them.
/// `ldd` is only a probe of the host file here; nothing runs in the image.
async fn linked_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("ldd").arg(binary).output(),
    )
    .await
    .with_context(|| format!("ldd {} did not finish", binary.display()))?
    .with_context(|| {
        format!(
            "running ldd on {} (ldd comes with libc-bin; it lists the libraries to copy)",
            binary.display()
        )
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {}", binary.display(), stderr.trim());
    }
    parse_ldd(&stdout).with_context(|| format!("libraries of {}", binary.display()))
}

/// Paths from `ldd` output: `libc.so.6 => /lib/.../libc.so.6 (0x..)` lines
/// and the loader's `/lib64/ld-linux-x86-64.so.2 (0x..)` line; the vDSO
/// has no file and is skipped.
fn parse_ldd(output: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in output.lines().map(str::trim) {
        let target = match line.split_once("=>") {
            Some((name, rhs)) => {
                let rhs = rhs.trim();
                if rhs.starts_with("not found") {
                    bail!("library {} not found on this host", name.trim());
                }
                rhs
            }
            None => line,
        };
        let path = target.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// Builds `context` into `tag` through the engine's build API (no CLI).
async fn build_context(docker: &Docker, tag: &str, context: ScratchContext) -> Result<()> {
    tracing::info!(tag, bytes = context.tar.len(), "building image");
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(HashMap::from([(
            MANAGED_LABEL.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    };
    let build = async {
        let mut stream =
            docker.build_image(options, None, Some(bollard::body_full(context.tar.into())));
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream {
                        log.push_str(&s);
                    }
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        bail!("building image {tag}: {detail}\n{log}");
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("building image {tag}\n{log}")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(BUILD_TIMEOUT, build)
        .await
        .with_context(|| format!("building image {tag}: not done within {BUILD_TIMEOUT:?}"))??;
    if !image_exists(docker, tag).await? {
        bail!("building image {tag}: the build reported success but the image is missing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader_but_not_the_vdso() {
        let out = "\tlinux-vdso.so.1 (0x00007ffa6b95e000)\n\
                   \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007ffa6b520000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007ffa6aa1e000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007ffa6b960000)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error_naming_it() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn references_split_into_name_and_tag_with_latest_by_default() {
        assert_eq!(split_reference("redis:7.2"), ("redis", Some("7.2")));
        assert_eq!(split_reference("redis"), ("redis", Some("latest")));
        assert_eq!(
            split_reference("localhost:5000/redis"),
            ("localhost:5000/redis", Some("latest"))
        );
        assert_eq!(
            split_reference("localhost:5000/redis:7"),
            ("localhost:5000/redis", Some("7"))
        );
    }

    #[test]
    fn newest_redis7_tag_sorts_first() {
        let mut tags = [
            "redis:7.0".to_string(),
            "redis:7.2.4".into(),
            "redis:7".into(),
        ];
        tags.sort_by_key(|t| std::cmp::Reverse(version_key(t)));
        assert_eq!(tags[0], "redis:7.2.4");
    }

    #[tokio::test]
    async fn the_context_is_deterministic_so_its_tag_names_the_content() {
        let Some(sh) = find_on_path("sh") else { return };
        let a = ScratchContext::collect(std::slice::from_ref(&sh), &["tmp"])
            .await
            .unwrap();
        let b = ScratchContext::collect(&[sh], &["tmp"]).await.unwrap();
        assert_eq!(a.tag("x"), b.tag("x"));
        let c = ScratchContext::collect(&[PathBuf::from("/bin/sh")], &["tmp", "data"])
            .await
            .unwrap();
        assert_ne!(a.tag("x"), c.tag("x"));
    }
}
