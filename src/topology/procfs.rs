//! What `/proc` says about a process: its state, name, start time and
//! working dir. The local backend finds its nodes this way, and a run's
//! manifest tells a live owner from a dead one (or from a later process
//! that got the same pid) by its start time.

use std::path::PathBuf;

/// One process, from `/proc/<pid>/stat`.
pub struct ProcInfo {
    /// State letter (R, S, D, T, t, Z, X, ...).
    pub state: char,
    pub comm: String,
    /// When it started, in clock ticks since boot: with the pid, it names
    /// one process for the machine's uptime.
    pub start_ticks: u64,
}

impl ProcInfo {
    /// Neither a zombie nor dead: it still runs (or is stopped).
    pub fn is_live(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may contain spaces: split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 of stat(5); the state is field 3.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(ProcInfo {
        state,
        comm,
        start_ticks,
    })
}

pub fn proc_cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_live_and_has_a_start_time() {
        let me = proc_info(std::process::id() as i32).unwrap();
        assert!(me.is_live());
        assert!(me.start_ticks > 0);
        let again = proc_info(std::process::id() as i32).unwrap();
        assert_eq!(me.start_ticks, again.start_ticks);
    }
}
