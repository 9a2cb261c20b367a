//! Entering and leaving the dashboard's terminal mode (raw mode, alternate
//! screen). [`TerminalSession`] restores the terminal when dropped, so every
//! way out (quit, error, `?` early return) leaves a usable shell; ratatui's
//! `try_init` also installs a panic hook that restores before the panic
//! message prints. [`silence_if_terminal_died`] keeps the prints after
//! a hangup from failing.

use ratatui::DefaultTerminal;

/// The terminal in dashboard mode; restored on drop.
pub struct TerminalSession {
    terminal: DefaultTerminal,
}

impl TerminalSession {
    /// Switches to raw mode and the alternate screen. Logs must already go
    /// to a file: from here on, stderr is not visible.
    pub fn enter() -> std::io::Result<TerminalSession> {
        let terminal = ratatui::try_init()?;
        Ok(TerminalSession { terminal })
    }

    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        if let Err(e) = ratatui::try_restore() {
            tracing::error!(error = %e, "could not restore the terminal");
        }
    }
}

/// Points stdout and stderr at /dev/null when this process's terminal has
/// died, so that what the shutdown prints cannot fail (`println!` panics
/// on EIO, and a panic would lose the report). Files and pipes are kept.
pub fn silence_if_terminal_died() {
    if !super::event::terminal_gone() {
        return;
    }
    // SAFETY: plain descriptor calls on this process's own stdout/stderr;
    // the fstat buffer is ours and zeroed.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null < 0 {
            return;
        }
        for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
            let mut st: libc::stat = std::mem::zeroed();
            let is_char_device =
                libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR;
            if is_char_device {
                libc::dup2(null, fd);
            }
        }
        libc::close(null);
    }
}
