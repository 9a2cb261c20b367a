//! Command-line interface: the clap definitions and the `--help` text. Each
//! subcommand's own arguments live beside its implementation in `commands/`;
//! the flags shared by several subcommands live here, with the domain's
//! kinds as flag values (`cli/values.rs`) and the workload flags
//! (`cli/workload.rs`). The defaults of the flags are the domain's own
//! defaults. Only this layer and `commands/` use clap.

mod values;
mod workload;

pub use workload::{LockArgs, RedPacketArgs, SeckillArgs};

use crate::commands;
use crate::limits;
use crate::topology::external::ExternalTarget;
use crate::topology::{HaMode, Persistence, TopologySpec};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const ABOUT: &str = "A terminal chaos lab for Redis high availability.

grabstorm starts a real Redis topology (a master, replicas and a Sentinel
quorum, in Docker or as local processes), hammers it with thousands of
simulated flash-sale users (red packets, seckill, distributed locks), lets you
break nodes while the load runs, and checks every acknowledged operation
against what Redis holds afterwards.

Run without a command to open the dashboard: `grabstorm` takes every flag
of `grabstorm tui` (`grabstorm --backend local --replicas 3`).";

const AFTER_HELP: &str = "Examples:
  grabstorm                                  dashboard: topology + mixed load, press ? for keys
  grabstorm --backend local --replicas 3     the dashboard takes the flags of `grabstorm tui`
  grabstorm up --replicas 2 --sentinels 3    start a topology and leave it running
  grabstorm status                           roles and health, read live from the nodes
  grabstorm load --attach --workload redpacket --grabbers 5000 --duration 30s
  grabstorm load --metrics 127.0.0.1:9464 --out out/
                                             scrape /metrics; out/: report, charts, CSV, hlog
  grabstorm fault segfault master            crash the master of the running topology
  grabstorm scenarios                        the shipped scenarios and what each teaches
  grabstorm run failover-segfault --headless --out out/
  grabstorm load --sentinel 127.0.0.1:26379 --password PW --fault \"5s segfault master\"
                                             a topology grabstorm did not start (its keys only)
  grabstorm ring --servers 4 --vnodes 1,10,100,1000 --keys 20000 --narrate
  grabstorm down --all                       remove everything any grabstorm run left behind
  grabstorm completions bash > ~/.local/share/bash-completion/completions/grabstorm
  grabstorm man | man -l -

Durations take a unit: --think 5ms, --down-after 1s, --duration 2m.

Exit status:
  0      every check held (the audit, a scenario's expectations)
  1      a check failed, or could not be made
  2      bad usage or input: a flag, a file, a refused request
  3      the lab could not run: no Docker engine, no redis-server, no running
         topology, Redis unreachable
  128+N  stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 a closed terminal)";

#[derive(Parser, Debug)]
#[command(name = "grabstorm", version, about = ABOUT, long_about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The dashboard's flags, for `grabstorm` without a command.
    #[command(flatten)]
    pub dashboard: Box<commands::tui::TuiArgs>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the process's command line (see [`Cli::try_parse_args`]);
    /// on an error prints it and exits with status 2.
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses a command line: clap's rules, and the dashboard's flags only
    /// without a command. (clap's `args_conflicts_with_subcommands` would
    /// also refuse the global flags before a command.)
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let mut cli = Cli::command();
        let matches = cli.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            let dashboard = commands::tui::TuiArgs::augment_args(clap::Command::new("tui"));
            let given = dashboard.get_arguments().find(|a| {
                matches.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            });
            if let Some(arg) = given {
                let flag = arg.get_long().unwrap_or(arg.get_id().as_str());
                return Err(cli.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{flag} before `{name}`: the flags before a command are the \
                         dashboard's (`grabstorm` without a command); give `{name}` its \
                         flags after it"
                    ),
                ));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cli))
    }
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Where grabstorm keeps the running topology's state file and per-run
    /// directories. Default: $XDG_STATE_HOME/grabstorm or ~/.local/state/grabstorm.
    #[arg(long, global = true, env = "GRABSTORM_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Write logs to this file (the dashboard never logs to the terminal).
    /// Verbosity follows RUST_LOG (default: info).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Worker threads of grabstorm's engine (default: one per core). With
    /// the local backend on a small machine, fewer threads leave more CPU to
    /// the Redis processes (`grabstorm bench` shows the difference).
    #[arg(long, global = true, env = "GRABSTORM_THREADS", value_name = "N",
          allow_hyphen_values = true, value_parser = |s: &str| limits::THREADS.parse::<u16>(s))]
    pub threads: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start a topology, wait until it is really ready, print its nodes, and leave it running.
    Up(commands::up::UpArgs),
    /// Show the live roles and health of the running topology, read from the nodes.
    Status(commands::status::StatusArgs),
    /// Remove this state dir's run and its crashed runs (--all: every run of the state dir).
    Down(commands::down::DownArgs),
    /// Run a workload headless and print (or write) an audited report.
    Load(Box<commands::load::LoadCommandArgs>),
    /// Re-run the audit of a finished run from its journal against the live Redis.
    Audit(commands::audit::AuditArgs),
    /// Inject a fault into the running topology.
    Fault(commands::fault::FaultArgs),
    /// Cluster mode: move N hash slots with their keys from shard K to shard L, live.
    Reshard(commands::reshard::ReshardArgs),
    /// Cluster mode: add a shard (`scale add`) or remove shard K (`scale remove K`), live.
    Scale(commands::scale::ScaleArgs),
    /// Measure grabstorm against redis-benchmark on the same server.
    Bench(commands::bench::BenchArgs),
    /// Open the dashboard (the default command).
    Tui(Box<commands::tui::TuiArgs>),
    /// Validate scenario files (or shipped scenarios by name) without starting anything.
    Check(commands::check::CheckArgs),
    /// Play a scenario file or a shipped scenario: in the dashboard, or headless with a verdict.
    Run(Box<commands::run::RunArgs>),
    /// List the scenarios shipped in the binary with what each teaches; `show NAME` prints one.
    Scenarios(commands::scenarios::ScenariosArgs),
    /// Print a run's journal (every acknowledged write) as JSON lines.
    Journal(commands::journal::JournalArgs),
    /// List the kept run directories, or prune old ones (the last 20 are kept).
    Runs(commands::runs::RunsArgs),
    /// Consistent hashing lab: shard keys over N independent servers by
    /// modulo and by a ring with virtual nodes, remove or add a server,
    /// count on the servers what moved.
    Ring(Box<commands::ring::RingArgs>),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::CompletionsArgs),
    /// Print the manual page (roff), or write one page per subcommand with --dir.
    Man(commands::man::ManArgs),
}

impl Command {
    /// Whether the command only reads and prints: it starts, changes and
    /// holds nothing, so a reader that stops early may simply end it.
    pub fn only_prints(&self) -> bool {
        match self {
            Command::Status(_)
            | Command::Check(_)
            | Command::Scenarios(_)
            | Command::Journal(_)
            | Command::Completions(_) => true,
            Command::Man(m) => m.dir.is_none(),
            _ => false,
        }
    }
}

/// Where to find a topology grabstorm did not start, shared by every
/// command that drives or reads one (`load`, `run`, `tui`, `status`,
/// `fault`, `audit`).
#[derive(Args, Debug, Clone, Default)]
pub struct ExternalArgs {
    /// Attach to the topology these sentinels monitor (comma-separated
    /// loopback HOST:PORT), instead of one grabstorm starts. The nodes are
    /// the ones Sentinel reports, named redis-1.. and sentinel-1.. in the
    /// order of their addresses. Only the run's own keys are touched.
    #[arg(long, value_name = "HOST:PORT,..", value_delimiter = ',', conflicts_with = "cluster",
          value_parser = crate::topology::external::parse_loopback, help_heading = "Attach")]
    pub sentinel: Vec<SocketAddr>,
    /// Attach to the Redis Cluster these nodes belong to (comma-separated
    /// loopback HOST:PORT; one answering node is enough). The nodes are the
    /// ones CLUSTER NODES reports, named redis-1.. in address order, shards
    /// numbered in slot order.
    #[arg(long, value_name = "HOST:PORT,..", value_delimiter = ',',
          value_parser = crate::topology::external::parse_loopback, help_heading = "Attach")]
    pub cluster: Vec<SocketAddr>,
    /// Password of the attached nodes and sentinels (AUTH).
    #[arg(
        long,
        env = "GRABSTORM_PASSWORD",
        hide_env_values = true,
        value_name = "PW",
        help_heading = "Attach"
    )]
    pub password: Option<String>,
    /// Where the host reaches an address Sentinel or Cluster report
    /// (NAT, Docker bridges, port-forwards), e.g.
    /// 172.28.0.11:6379=127.0.0.1:16379. Repeatable. Reported loopback
    /// addresses need no map; any other unmapped one is refused.
    #[arg(long = "addr-map", value_name = "REPORTED=HOST:PORT",
          value_parser = crate::topology::external::parse_addr_map, help_heading = "Attach")]
    pub addr_map: Vec<(String, SocketAddr)>,
}

impl ExternalArgs {
    /// The topology to attach to, when `--sentinel` or `--cluster` names
    /// one; `master_name` is the name the sentinels monitor.
    pub fn target(&self, master_name: &str) -> Option<ExternalTarget> {
        let (mode, seeds) = if !self.sentinel.is_empty() {
            (HaMode::Sentinel, &self.sentinel)
        } else if !self.cluster.is_empty() {
            (HaMode::Cluster, &self.cluster)
        } else {
            return None;
        };
        Some(ExternalTarget {
            mode,
            seeds: seeds.clone(),
            master_name: master_name.to_string(),
            password: self.password.clone(),
            addr_map: self.addr_map.clone(),
        })
    }
}

/// [`ExternalArgs`] with the master name, for the commands that do not
/// take the topology flags (`status`, `fault`, `audit`, `run`).
#[derive(Args, Debug, Clone)]
pub struct AttachArgs {
    #[command(flatten)]
    pub external: ExternalArgs,
    /// With --sentinel: the name the sentinels monitor the master under.
    #[arg(long, default_value_t = TopologySpec::default().master_name, help_heading = "Attach")]
    pub master_name: String,
}

impl Default for AttachArgs {
    fn default() -> Self {
        AttachArgs {
            external: ExternalArgs::default(),
            master_name: TopologySpec::default().master_name,
        }
    }
}

impl AttachArgs {
    /// The topology to attach to, when `--sentinel` or `--cluster` names one.
    pub fn target(&self) -> Option<ExternalTarget> {
        self.external.target(&self.master_name)
    }
}

pub use crate::topology::select::BackendChoice;
use crate::topology::select::BackendSelection;

/// Backend selection, shared by every command that starts a topology.
#[derive(Args, Debug, Clone, Default)]
pub struct BackendArgs {
    /// Where the nodes run: containers on a bridge network, or local processes on 127.0.0.1.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Redis image for the Docker backend (pulled only if absent locally).
    /// Default: a local redis:7* image, else one built from the host's redis-server.
    #[arg(long, env = "GRABSTORM_REDIS_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,
}

impl BackendArgs {
    /// What these flags select, for the engine.
    pub fn selection(&self) -> BackendSelection {
        BackendSelection {
            choice: self.backend,
            image: self.image.clone(),
        }
    }
}

/// The export flags of every command that runs a load (`load`, `run`,
/// `tui`, bare `grabstorm`).
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    /// Serve the run's metrics as OpenMetrics (Prometheus) text at
    /// http://ADDR/metrics while the run lasts, its final values until the
    /// topology is removed (off by default). ADDR is a loopback IP and a
    /// port (127.0.0.0/8 or ::1; anything else is refused), e.g.
    /// 127.0.0.1:9464. Every name starts with grabstorm_: operations and
    /// errors by workload and kind, the latency histogram, grabbers, node
    /// roles, and once the run ended failovers and lost writes by cause
    /// (README: Exports).
    #[arg(long, value_name = "ADDR", help_heading = "Export")]
    pub metrics: Option<crate::report::endpoint::LoopbackAddr>,
}

/// Flags whose value is a secret: never written into a report.
const SECRET_FLAGS: [&str; 1] = ["--password"];

/// The command line as it was typed, for the report's `meta`, with the
/// value of every secret flag (`--password PW`, `--password=PW`) replaced
/// by `***`.
pub fn command_line() -> Vec<String> {
    redact(std::env::args())
}

fn redact(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for arg in args {
        let after_secret = out
            .last()
            .is_some_and(|prev| SECRET_FLAGS.contains(&prev.as_str()));
        let inline = SECRET_FLAGS
            .iter()
            .find(|f| arg.starts_with(&format!("{f}=")));
        out.push(match (after_secret, inline) {
            (true, _) => "***".to_string(),
            (false, Some(flag)) => format!("{flag}=***"),
            (false, None) => arg,
        });
    }
    out
}

/// The topology flags, shared by `up`, `load`, `tui`.
#[derive(Args, Debug, Clone)]
pub struct SpecArgs {
    /// The high-availability model: a master with replicas watched by
    /// sentinels, or a Redis Cluster (masters sharing 16,384 hash slots,
    /// each with replicas, failing each other over).
    #[arg(long, value_enum, default_value_t = TopologySpec::default().mode, help_heading = "Topology")]
    pub mode: HaMode,
    /// Cluster mode: number of masters, i.e. shards (3 to 10).
    #[arg(long, default_value_t = TopologySpec::default().masters, value_name = "N", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::CLUSTER_MASTERS.parse::<u16>(s))]
    pub masters: u16,
    /// Cluster mode: replicas of each master (0 to 4).
    #[arg(long, default_value_t = TopologySpec::default().replicas_per_master, value_name = "N", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::CLUSTER_REPLICAS_PER_MASTER.parse::<u16>(s))]
    pub replicas_per_master: u16,
    /// Cluster mode: cluster-node-timeout, the silence before a node is
    /// flagged failing, e.g. 2s (100ms to 10m).
    #[arg(long, default_value = millis_text(TopologySpec::default().node_timeout_ms), value_name = "DURATION", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NODE_TIMEOUT_MS.parse_millis(s))]
    pub node_timeout: Duration,
    /// The legacy form of --node-timeout, in milliseconds.
    #[arg(long, hide = true, conflicts_with = "node_timeout", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NODE_TIMEOUT_MS.parse_legacy_millis(s))]
    pub node_timeout_ms: Option<Duration>,
    /// Cluster mode: cluster-require-full-coverage. yes: the whole cluster
    /// refuses writes while any slot has no master; no: the other shards
    /// keep serving.
    // `action = Set`: for a `bool` field clap's default is a value-less
    // switch, which would never read the yes|no that follows.
    #[arg(long, default_value = "yes", value_name = "yes|no", help_heading = "Topology",
          action = clap::ArgAction::Set, value_parser = parse_yes_no)]
    pub require_full_coverage: bool,
    /// Name under which the sentinels monitor the master.
    #[arg(long, default_value_t = TopologySpec::default().master_name, help_heading = "Topology")]
    pub master_name: String,
    /// Number of replicas (0 to 16).
    #[arg(long, default_value_t = TopologySpec::default().replicas, help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::REPLICAS.parse::<u16>(s))]
    pub replicas: u16,
    /// Number of sentinels (0 to 9; 0 means no automatic failover).
    #[arg(long, default_value_t = TopologySpec::default().sentinels, help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::SENTINELS.parse::<u16>(s))]
    pub sentinels: u16,
    /// Sentinels that must agree the master is down (1 to --sentinels, at most 9).
    #[arg(long, default_value_t = TopologySpec::default().quorum, help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::QUORUM.parse::<u16>(s))]
    pub quorum: u16,
    /// Sentinel's down-after-milliseconds: silence before a node is flagged
    /// down, e.g. 1s, 500ms (100ms to 10m).
    #[arg(long, default_value = millis_text(TopologySpec::default().down_after_ms), value_name = "DURATION", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::DOWN_AFTER_MS.parse_millis(s))]
    pub down_after: Duration,
    /// The legacy form of --down-after, in milliseconds.
    #[arg(long, hide = true, conflicts_with = "down_after", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::DOWN_AFTER_MS.parse_legacy_millis(s))]
    pub down_after_ms: Option<Duration>,
    /// Sentinel's failover-timeout, e.g. 10s (1s to 1h).
    #[arg(long, default_value = millis_text(TopologySpec::default().failover_timeout_ms), value_name = "DURATION", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::FAILOVER_TIMEOUT_MS.parse_millis(s))]
    pub failover_timeout: Duration,
    /// The legacy form of --failover-timeout, in milliseconds.
    #[arg(long, hide = true, conflicts_with = "failover_timeout", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::FAILOVER_TIMEOUT_MS.parse_legacy_millis(s))]
    pub failover_timeout_ms: Option<Duration>,
    /// Replicas reconfigured at once after a failover (1 to 16).
    #[arg(long, default_value_t = TopologySpec::default().parallel_syncs, value_name = "N", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::PARALLEL_SYNCS.parse::<u16>(s))]
    pub parallel_syncs: u16,
    /// Persistence of every Redis node.
    #[arg(long, value_enum, default_value_t = TopologySpec::default().persistence, help_heading = "Topology")]
    pub persistence: Persistence,
    /// The master refuses writes unless this many replicas are connected and
    /// recent (0 to --replicas).
    #[arg(long, default_value_t = TopologySpec::default().min_replicas_to_write, value_name = "N", help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::MIN_REPLICAS_TO_WRITE.parse::<u16>(s))]
    pub min_replicas_to_write: u16,
    /// How recent a replica must be to count for --min-replicas-to-write,
    /// in whole seconds: 10s, 1m, or a bare number of seconds (1s to 1h).
    #[arg(long,
        default_value = crate::words::duration(Duration::from_secs(TopologySpec::default().min_replicas_max_lag_s.into())),
        value_name = "DURATION",
        help_heading = "Topology", allow_hyphen_values = true,
          value_parser = |s: &str| limits::MIN_REPLICAS_MAX_LAG_S.parse_secs::<u32>(s))]
    pub min_replicas_max_lag: u32,
}

impl Default for SpecArgs {
    fn default() -> Self {
        SpecArgs::from_spec(&TopologySpec::default())
    }
}

impl SpecArgs {
    pub fn to_spec(&self) -> TopologySpec {
        TopologySpec {
            master_name: self.master_name.clone(),
            replicas: self.replicas,
            sentinels: self.sentinels,
            quorum: self.quorum,
            down_after_ms: millis(self.down_after_ms.unwrap_or(self.down_after)),
            failover_timeout_ms: millis(self.failover_timeout_ms.unwrap_or(self.failover_timeout)),
            parallel_syncs: self.parallel_syncs,
            persistence: self.persistence,
            min_replicas_to_write: self.min_replicas_to_write,
            min_replicas_max_lag_s: self.min_replicas_max_lag,
            mode: self.mode,
            masters: self.masters,
            replicas_per_master: self.replicas_per_master,
            node_timeout_ms: millis(self.node_timeout_ms.unwrap_or(self.node_timeout)),
            require_full_coverage: self.require_full_coverage,
        }
    }

    pub fn from_spec(s: &TopologySpec) -> Self {
        SpecArgs {
            master_name: s.master_name.clone(),
            replicas: s.replicas,
            sentinels: s.sentinels,
            quorum: s.quorum,
            down_after: Duration::from_millis(s.down_after_ms),
            down_after_ms: None,
            failover_timeout: Duration::from_millis(s.failover_timeout_ms),
            failover_timeout_ms: None,
            parallel_syncs: s.parallel_syncs,
            persistence: s.persistence,
            min_replicas_to_write: s.min_replicas_to_write,
            min_replicas_max_lag: s.min_replicas_max_lag_s,
            mode: s.mode,
            masters: s.masters,
            replicas_per_master: s.replicas_per_master,
            node_timeout: Duration::from_millis(s.node_timeout_ms),
            node_timeout_ms: None,
            require_full_coverage: s.require_full_coverage,
        }
    }
}

/// A number of milliseconds as a time flag writes it (`5s`), for defaults.
pub(crate) fn millis_text(ms: u64) -> String {
    crate::words::duration(Duration::from_millis(ms))
}

/// A time flag's value in whole milliseconds, as the domain counts it.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A yes/no flag value, as redis.conf spells it.
fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!("{other:?} is not allowed: use yes or no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn require_full_coverage_reads_yes_and_no() {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            spec: SpecArgs,
        }
        use clap::Parser;
        for (given, want) in [
            (&["--require-full-coverage", "no"][..], false),
            (&["--require-full-coverage", "yes"], true),
            (&[], true),
        ] {
            let args = std::iter::once("x").chain(given.iter().copied());
            let parsed = Only::try_parse_from(args).unwrap_or_else(|e| panic!("{given:?}: {e}"));
            assert_eq!(
                parsed.spec.to_spec().require_full_coverage,
                want,
                "{given:?}"
            );
        }
        assert!(Only::try_parse_from(["x", "--require-full-coverage", "true"]).is_err());
    }

    #[test]
    fn bare_grabstorm_takes_the_dashboard_flags() {
        let cli = Cli::try_parse_args(["grabstorm", "--backend", "local", "--replicas", "3"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(cli.command.is_none());
        assert_eq!(cli.dashboard.backend.backend, BackendChoice::Local);
        assert_eq!(cli.dashboard.spec.replicas, 3);
        let cli = Cli::try_parse_args(["grabstorm", "--think", "5ms", "--fps", "10"]).unwrap();
        assert_eq!(
            cli.dashboard.load.think,
            std::time::Duration::from_millis(5)
        );
        assert_eq!(cli.dashboard.fps, 10);
        // `grabstorm tui` keeps its flags.
        let cli = Cli::try_parse_args(["grabstorm", "tui", "--replicas", "4"]).unwrap();
        match cli.command {
            Some(Command::Tui(t)) => assert_eq!(t.spec.replicas, 4),
            other => panic!("{other:?}"),
        }
        // Dashboard flags do not mix with another command.
        let err = Cli::try_parse_args(["grabstorm", "--replicas", "3", "status"]).unwrap_err();
        assert!(
            err.to_string().contains("--replicas before `status`"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
        // The global flags still go before any command.
        let cli = Cli::try_parse_args(["grabstorm", "--state-dir", "/tmp/s", "status"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Status(_))));
        assert_eq!(cli.global.state_dir, Some(PathBuf::from("/tmp/s")));
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("`grabstorm` takes every flag\nof `grabstorm tui`"),
            "{help}"
        );
        assert!(
            help.contains("grabstorm --backend local --replicas 3"),
            "{help}"
        );
    }

    /// The time flags take durations; their legacy `-ms` forms (hidden)
    /// take milliseconds and set the same value.
    #[test]
    fn time_flags_take_durations_and_their_legacy_forms_milliseconds() {
        let load = |line: &str| {
            let args = ["grabstorm", "load"].into_iter().chain(line.split(' '));
            match Cli::try_parse_args(args).map(|c| c.command) {
                Ok(Some(Command::Load(l))) => Ok(l),
                Ok(other) => panic!("{line}: parsed as {other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        for (new, old) in [
            ("--down-after 1.5s", "--down-after-ms 1500"),
            ("--failover-timeout 2m", "--failover-timeout-ms 120000"),
            ("--node-timeout 750ms", "--node-timeout-ms 750"),
            ("--min-replicas-max-lag 1m", "--min-replicas-max-lag 60"),
        ] {
            let (a, b) = (load(new).unwrap(), load(old).unwrap());
            assert_eq!(a.spec.to_spec(), b.spec.to_spec(), "{new} / {old}");
            assert_ne!(a.spec.to_spec(), TopologySpec::default(), "{new}");
        }
        for (new, old) in [
            ("--think 5ms", "--think-ms 5"),
            ("--naive-delay 20ms", "--naive-delay-ms 20"),
            ("--seckill-delay 1s", "--seckill-delay-ms 1000"),
            ("--lock-ttl 100ms", "--lock-ttl-ms 100"),
            ("--lock-hold 2s", "--lock-hold-ms 2000"),
            ("--lock-retry 7ms", "--lock-retry-ms 7"),
            ("--lock-max-wait 3s", "--lock-max-wait-ms 3000"),
            ("--settle 5s", "--settle-timeout 5s"),
            ("--packet-amount-cents 500", "--packet-cents 500"),
            ("--locks naive,fenced", "--lock-kinds naive,fenced"),
        ] {
            let (a, b) = (load(new).unwrap(), load(old).unwrap());
            let (a, b) = (&a.load, &b.load);
            assert_eq!(a.redpacket.config(), b.redpacket.config(), "{new}");
            assert_eq!(a.seckill.config(), b.seckill.config(), "{new}");
            assert_eq!(a.locks.config(), b.locks.config(), "{new}");
            assert_eq!(
                (a.think_ms.unwrap_or(a.think), a.settle_timeout),
                (b.think_ms.unwrap_or(b.think), b.settle_timeout),
                "{new}"
            );
        }
        let locks = load("--lock-ttl 100ms").unwrap().load.locks.config();
        assert_eq!(locks.ttl_ms, 100);
        let err = load("--lock-ttl 100").unwrap_err();
        assert!(
            err.contains("invalid value '100' for '--lock-ttl <DURATION>': needs a unit, e.g. 100ms or 100s, and must be 1ms to 1h"),
            "{err}"
        );
        let err = load("--think 5ms --think-ms 5").unwrap_err();
        assert!(err.contains("cannot be used with"), "{err}");
    }

    #[test]
    fn the_recorded_command_line_hides_the_password() {
        let words = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            redact(words(
                "grabstorm load --sentinel 127.0.0.1:26379 --password s3cret --duration 5s"
            )),
            words("grabstorm load --sentinel 127.0.0.1:26379 --password *** --duration 5s")
        );
        assert_eq!(
            redact(words("grabstorm status --password=s3cret")),
            words("grabstorm status --password=***")
        );
        assert_eq!(
            redact(words("grabstorm load --seed 7")),
            words("grabstorm load --seed 7")
        );
    }

    #[test]
    fn spec_flag_defaults_match_the_spec_defaults() {
        assert_eq!(SpecArgs::default().to_spec(), TopologySpec::default());
    }
}
