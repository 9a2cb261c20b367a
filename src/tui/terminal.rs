//! Entering and leaving the dashboard's terminal mode (raw mode, alternate
//! screen). [`TerminalSession`] restores the terminal when dropped, so every
//! way out (quit, error, `?` early return) leaves a usable shell; ratatui's
//! `try_init` also installs a panic hook that restores before the panic
//! message prints.

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
