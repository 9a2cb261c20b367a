//! The dashboard's styles, with and without colour. `NO_COLOR` (any
//! non-empty value, per no-color.org) turns colours off; every state is also
//! spelled out in text or symbols, so nothing is lost without colour.

use ratatui::style::{Color, Modifier, Style};

/// Colour on or off, and the styles derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme { color: true }
    }
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// Healthy, conserved, agreed.
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// Degraded but not yet broken: sdown, paused, errors.
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// Broken: down, odown, violations, lost money.
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The master stands out in any mode.
    pub fn master(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Secondary text: units, axes, hints.
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// Panel titles.
    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Key names in the footer and help.
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected node's row.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Banners that must be seen from the back of a classroom.
    pub fn alarm(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// Bars of charts.
    pub fn bar(self) -> Style {
        self.fg(Color::Blue)
    }

    /// Cluster mode: shard `shard`'s (from 1) slots on the slot bar, one
    /// colour per shard; each shard has its own row, so nothing depends on
    /// telling the colours apart.
    pub fn shard(self, shard: usize) -> Style {
        const COLOURS: [Color; 6] = [
            Color::Cyan,
            Color::Magenta,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::LightRed,
        ];
        self.fg(COLOURS[shard.saturating_sub(1) % COLOURS.len()])
    }
}
