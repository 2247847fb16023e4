//! ConverseStream events, one variant per `:event-type`.
