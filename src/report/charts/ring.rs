//! The ring lab's charts (`grabstorm ring --out DIR`): keys per server
//! before the change for each scheme, against the fair share; and the
//! keys each scheme moved, split into those of the server that left or
//! joined and those that moved between servers that stayed.

use super::{
    register_font, text_style, ChartError, DrawResult, ERROR_COLOUR, FAULT_COLOUR, OK_COLOUR, SIZE,
    SWITCH_COLOUR, WINDOW_COLOUR,
};
use crate::ring::lab::{Change, RingReport};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One group of bars: a scheme's name and its keys per server.
fn groups(report: &RingReport) -> Vec<(String, Vec<u64>)> {
    std::iter::once(("modulo".to_string(), report.modulo.keys_per_server.clone()))
        .chain(report.rows.iter().map(|r| {
            (
                format!("ring V={}", r.vnodes.unwrap_or(0)),
                r.keys_per_server.clone(),
            )
        }))
        .collect()
}

/// A colour per server, cycling through a fixed palette.
fn server_colour(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        OK_COLOUR,
        WINDOW_COLOUR,
        SWITCH_COLOUR,
        ERROR_COLOUR,
        FAULT_COLOUR,
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    PALETTE[i % PALETTE.len()]
}

fn draw_keys_per_server<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &RingReport,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let groups = groups(report);
    let servers = report.servers.max(1);
    let top = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.2;
    let mut c = ChartBuilder::on(root)
        .caption(
            format!(
                "Keys per server before the change ({} keys, {} servers)",
                report.keys, report.servers
            ),
            text_style(26.0),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..groups.len() as f64, 0f64..top)?;
    let names: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let fmt_x = |x: &f64| group_label(&names, *x);
    c.configure_mesh()
        .x_desc("scheme")
        .y_desc("keys on the server")
        .x_labels(2 * groups.len() + 1)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .disable_x_mesh()
        .axis_desc_style(text_style(18.0))
        .label_style(text_style(14.0))
        .draw()?;
    let width = 0.8 / servers as f64;
    for s in 0..servers {
        let colour = server_colour(s);
        c.draw_series(groups.iter().enumerate().filter_map(|(g, (_, counts))| {
            let n = *counts.get(s)? as f64;
            let x0 = g as f64 + 0.1 + s as f64 * width;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.9, n)],
                colour.filled(),
            ))
        }))?
        .label(report.server_names.get(s).cloned().unwrap_or_default())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled()));
    }
    let fair = report.keys as f64 / servers as f64;
    c.draw_series(DashedLineSeries::new(
        vec![(0.0, fair), (groups.len() as f64, fair)],
        8,
        5,
        BLACK.stroke_width(2),
    ))?
    .label(format!("fair share {fair:.0}"))
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(text_style(14.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// (scheme, keys of the changed server, keys between survivors, computed?).
fn moved(report: &RingReport) -> Vec<(String, u64, u64, bool)> {
    let m = &report.modulo;
    let c = &report.cluster_slots;
    std::iter::once((
        "modulo".to_string(),
        m.moved_keys - m.moved_between_survivors,
        m.moved_between_survivors,
        false,
    ))
    .chain(report.rows.iter().map(|r| {
        (
            format!("ring V={}", r.vnodes.unwrap_or(0)),
            r.moved_keys - r.moved_between_survivors,
            r.moved_between_survivors,
            false,
        )
    }))
    .chain(std::iter::once((
        "cluster slots (computed)".to_string(),
        c.moved_keys - c.moved_between_survivors,
        c.moved_between_survivors,
        true,
    )))
    .collect()
}

fn draw_moved<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &RingReport,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let bars = moved(report);
    let keys = report.keys.max(1) as f64;
    let mut c = ChartBuilder::on(root)
        .caption(
            match report.change {
                Change::Remove => format!(
                    "Keys moved when {} of {} servers leaves",
                    report.changed_server, report.servers
                ),
                Change::Add => format!(
                    "Keys moved when {} joins {} servers",
                    report.changed_server, report.servers
                ),
            },
            text_style(26.0),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..bars.len() as f64, 0f64..100.0)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let fmt_x = |x: &f64| group_label(&names, *x);
    c.configure_mesh()
        .x_desc("scheme")
        .y_desc("keys moved (% of all keys)")
        .x_labels(2 * bars.len() + 1)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .disable_x_mesh()
        .axis_desc_style(text_style(18.0))
        .label_style(text_style(14.0))
        .draw()?;
    let own_label = match report.change {
        Change::Remove => "keys of the server that left",
        Change::Add => "keys taken by the new server",
    };
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let h = b.1 as f64 / keys * 100.0;
        let colour = if b.3 {
            OK_COLOUR.mix(0.45)
        } else {
            OK_COLOUR.mix(1.0)
        };
        Rectangle::new(
            [(i as f64 + 0.2, 0.0), (i as f64 + 0.8, h)],
            colour.filled(),
        )
    }))?
    .label(own_label)
    .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], OK_COLOUR.filled()));
    c.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let lo = b.1 as f64 / keys * 100.0;
        let hi = lo + b.2 as f64 / keys * 100.0;
        Rectangle::new(
            [(i as f64 + 0.2, lo), (i as f64 + 0.8, hi)],
            ERROR_COLOUR.filled(),
        )
    }))?
    .label("keys moved between servers that stayed")
    .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], ERROR_COLOUR.filled()));
    for (i, b) in bars.iter().enumerate() {
        let share = (b.1 + b.2) as f64 / keys * 100.0;
        c.draw_series(std::iter::once(Text::new(
            format!("{share:.1}%"),
            (i as f64 + 0.35, (share + 3.0).min(97.0)),
            text_style(15.0),
        )))?;
    }
    let fair = 100.0 * crate::ring::narrate::fair_share(report);
    c.draw_series(DashedLineSeries::new(
        vec![(0.0, fair), (bars.len() as f64, fair)],
        8,
        5,
        BLACK.stroke_width(2),
    ))?
    .label(format!("the changed server's fair share {fair:.1}%"))
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(text_style(14.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes `ring-keys-per-server.{png,svg}` and `ring-moved.{png,svg}`.
pub fn write_ring_charts(dir: &Path, report: &RingReport) -> Result<Vec<PathBuf>, ChartError> {
    register_font()?;
    let mut files = render_both!(dir, "ring-keys-per-server", draw_keys_per_server, report)?;
    files.extend(render_both!(dir, "ring-moved", draw_moved, report)?);
    Ok(files)
}

/// The x-axis label of a bar chart with one group per unit: the group's
/// name at the middle of its unit, nothing elsewhere.
fn group_label(names: &[String], x: f64) -> String {
    let i = x.floor() as usize;
    if (x - (i as f64 + 0.5)).abs() < 1e-6 {
        names.get(i).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_charts_are_valid_png_and_svg_with_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let report = crate::ring::lab::sample_report();
        let files = write_ring_charts(dir.path(), &report).unwrap();
        assert_eq!(files.len(), 4);
        for png in files.iter().filter(|p| p.extension().unwrap() == "png") {
            let bytes = std::fs::read(png).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
            assert!(bytes.len() > 10_000, "{} is nearly empty", png.display());
        }
        let svg = std::fs::read_to_string(dir.path().join("ring-keys-per-server.svg")).unwrap();
        for text in ["ring V=1000", "modulo", "redis-4", "fair share 5000"] {
            assert!(
                svg.contains(text),
                "ring-keys-per-server.svg lacks {text:?}"
            );
        }
        let svg = std::fs::read_to_string(dir.path().join("ring-moved.svg")).unwrap();
        for text in [
            "redis-4 of 4 servers leaves",
            "75.0%",
            "25.1%",
            "cluster slots (computed)",
            "keys moved between servers that stayed",
        ] {
            assert!(svg.contains(text), "ring-moved.svg lacks {text:?}");
        }
    }
}
