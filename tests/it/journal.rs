//! Tests: the journal on disk (at most 20 bytes per acknowledged write,
//! printed back as JSON lines by `grabstorm journal DIR`) and the run
//! directories (`grabstorm runs`, `runs prune`, the last 20 kept when a run
//! starts, a live run never removed). Recounts use plain Redis commands.

use crate::support::{grabstorm_bin, state_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn grabstorm(state: &Path, args: &[&str]) -> Output {
    Command::new(grabstorm_bin())
        .args(args)
        .env("GRABSTORM_STATE_DIR", state)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

/// The words of a command line.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs `grabstorm down` when the test ends, passed or not.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = grabstorm(self.0, &["down"]);
    }
}

/// The run ids `grabstorm runs --json` lists, oldest first.
fn listed_ids(state: &Path) -> Vec<String> {
    json(&grabstorm(state, &["runs", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Bytes of the files under `dir`, recounted.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                bytes_under(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

/// A real 5 s red-packet load on a local master (no sentinel, so the
/// naive client): the journal takes at most 20 bytes a write, `grabstorm
/// journal` prints one line per write, and the count is what Redis holds
/// and what `grabstorm runs` lists.
#[test]
fn a_real_load_journals_each_write_in_at_most_20_bytes() {
    let state = state_dir();
    let s = state.path();
    let up = grabstorm(
        s,
        &words("up --backend local --replicas 0 --sentinels 0 --json"),
    );
    assert!(up.status.success(), "up: {}", text(&up.stderr));
    let _down = Down(s);
    let up = json(&up);
    let master = up["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "redis-1")
        .unwrap_or_else(|| panic!("no redis-1 in {up}"))
        .clone();

    let load = grabstorm(
        s,
        &words(
            "load --attach --client naive --workload redpacket --grabbers 500 --duration 5s \
             --packets 100 --packet-count 100",
        ),
    );
    assert!(load.status.success(), "load: {}", text(&load.stderr));
    // Without --json: the banner, and the report in the run dir.
    let banner = text(&load.stderr);
    let run_id = listed_ids(s).pop().expect("the run is listed");
    let run_dir = PathBuf::from(s).join("runs").join(&run_id);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    let records = report["audit"]["journal_records"].as_u64().unwrap();
    let grabs_ok = report["redpacket"]["grabs_ok"].as_u64().unwrap();

    // Recount the grants in Redis: one hash field per acknowledged grab.
    let password = up["password"]
        .as_str()
        .map(|p| format!(":{p}@"))
        .unwrap_or_default();
    let mut conn = redis::Client::open(format!(
        "redis://{password}{}/",
        master["host_addr"].as_str().unwrap()
    ))
    .unwrap()
    .get_connection()
    .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("gs:{run_id}:rp:*:grabs"))
        .query(&mut conn)
        .unwrap();
    let mut in_redis = 0u64;
    for k in &keys {
        in_redis += redis::cmd("HLEN").arg(k).query::<u64>(&mut conn).unwrap();
    }

    let journal_bytes = std::fs::metadata(run_dir.join("journal.bin"))
        .unwrap()
        .len();
    let printed = grabstorm(s, &["journal", run_dir.to_str().unwrap()]);
    assert!(
        printed.status.success(),
        "journal: {}",
        text(&printed.stderr)
    );
    let lines: Vec<serde_json::Value> = text(&printed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let grabs_printed = lines.iter().filter(|l| l["op"] == "redpacket_grab").count() as u64;
    eprintln!(
        "journal: {records} records (grabstorm), {} JSON lines, {grabs_printed} grabs printed, \
         {in_redis} grants in Redis (HLEN over {} packets), {journal_bytes} bytes = {:.2} bytes/record",
        lines.len(),
        keys.len(),
        journal_bytes as f64 / records as f64
    );

    assert!(
        banner.contains("500 grabbers, workload redpacket"),
        "{banner}"
    );
    assert!(records > 1000, "only {records} writes in 5 s");
    assert_eq!(lines.len() as u64, records);
    assert_eq!(grabs_printed, records);
    assert_eq!(grabs_ok, records);
    assert_eq!(in_redis, records);
    assert!(
        journal_bytes <= 20 * records,
        "{journal_bytes} bytes for {records} records"
    );
    let first = &lines[0];
    for field in [
        "at_ms", "op", "key", "round", "user", "value", "pos", "node",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(first["node"], "redis-1");
    assert!(first["key"]
        .as_str()
        .unwrap()
        .starts_with(&format!("gs:{run_id}:rp:")));

    // `grabstorm runs` lists the run with its verdict and recounted size.
    let runs = grabstorm(s, &["runs", "--json"]);
    assert!(runs.status.success(), "runs: {}", text(&runs.stderr));
    let runs = json(&runs);
    let listed = runs.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{runs}");
    assert_eq!(listed[0]["id"], run_id.as_str());
    assert_eq!(listed[0]["verdict"], "ok");
    assert_eq!(listed[0]["workload"], "redpacket");
    assert_eq!(listed[0]["bytes"].as_u64(), Some(bytes_under(&run_dir)));
}

/// A run dir name like the lab's, `minutes` minutes after midnight.
fn old_run_id(minutes: u32) -> String {
    format!("20200101-{:02}{:02}00-beef", minutes / 60, minutes % 60)
}

/// A new run keeps the last 20 run dirs; `runs prune --keep N` removes the
/// older ones and says which; neither removes a live run, a `--out` dir, or
/// anything that is not a run dir.
#[test]
fn run_dirs_are_pruned_to_the_last_20_and_on_demand() {
    let state = state_dir();
    let s = state.path();
    let runs_dir = s.join("runs");
    for m in 0..25 {
        let d = runs_dir.join(old_run_id(m));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("journal.bin"), vec![0u8; 100]).unwrap();
    }
    std::fs::create_dir_all(runs_dir.join("notes")).unwrap();
    // The oldest is "live": this test holds its lock, as a running lab does.
    let live = std::fs::File::open(runs_dir.join(old_run_id(0))).unwrap();
    live.try_lock().unwrap();
    let out_dir = s.join("elsewhere");

    // A 1 s seckill load that starts (and removes) its own local master,
    // with the default client: without sentinels it keeps redis-1.
    let small_load = |extra: &[&str]| {
        let mut args = words(
            "load --backend local --replicas 0 --sentinels 0 \
             --workload seckill --grabbers 20 --duration 1s --json",
        );
        args.extend(extra);
        grabstorm(s, &args)
    };
    let load = small_load(&[]);
    assert!(load.status.success(), "load: {}", text(&load.stderr));
    let run_id = json(&load)["run_id"].as_str().unwrap().to_string();
    let with_out = small_load(&["--out", out_dir.to_str().unwrap()]);
    assert!(
        with_out.status.success(),
        "load: {}",
        text(&with_out.stderr)
    );

    // 20 kept (19 old + the new run) plus the live one.
    let listed = json(&grabstorm(s, &["runs", "--json"]));
    let ids = listed_ids(s);
    let mut expected: Vec<String> = std::iter::once(old_run_id(0))
        .chain((6..25).map(old_run_id))
        .collect();
    expected.push(run_id.clone());
    assert_eq!(ids, expected);
    assert_eq!(listed[0]["verdict"], "running");
    assert_eq!(listed[1]["verdict"], "unfinished");
    assert_eq!(listed[20]["verdict"], "ok");
    assert_eq!(listed[20]["workload"], "seckill");
    let on_disk = std::fs::read_dir(&runs_dir).unwrap().count();
    assert_eq!(on_disk, 22, "20 kept, the live one, `notes`");

    let table = text(&grabstorm(s, &["runs"]).stdout);
    assert!(table.contains("VERDICT"), "{table}");
    assert!(table.contains(&run_id), "{table}");

    let prune = grabstorm(s, &["runs", "prune", "--keep", "5"]);
    assert!(prune.status.success(), "prune: {}", text(&prune.stderr));
    let said = text(&prune.stdout);
    assert_eq!(said.matches("removed 2020").count(), 15, "{said}");
    assert!(said.contains("removed 15 run(s)"), "{said}");
    let left = listed_ids(s);
    let mut expected: Vec<String> = std::iter::once(old_run_id(0))
        .chain((21..25).map(old_run_id))
        .collect();
    expected.push(run_id);
    assert_eq!(left, expected);
    assert!(runs_dir.join("notes").exists());
    assert!(out_dir.join("report.json").exists());

    drop(live);
    let prune = json(&grabstorm(s, &["runs", "prune", "--keep", "0", "--json"]));
    assert_eq!(prune["keep"], 0);
    let removed = prune["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 6, "{prune}");
    let bytes: u64 = removed.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
    assert!(bytes > 0);
    assert_eq!(prune["freed_bytes"], bytes);
    assert_eq!(
        json(&grabstorm(s, &["runs", "--json"])),
        serde_json::json!([])
    );
}
