//! Daemon plumbing shared by stafd and stacd: systemd notify, logging, signals, the warm-restart state file.
