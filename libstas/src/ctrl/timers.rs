//! nvme-stas's timer values (nvme-stas-behaviour.md §5.7). None of them is configurable,
//! there is no jitter and no exponential backoff: these are part of the drop-in contract.

use std::time::Duration;

/// Reconcile debounce ("config soak"), DECISIONS.md item 15: leading edge, then at most one
/// more pass per soak period.
pub const CONF_SOAK: Duration = Duration::from_millis(1500);

/// Connect retry after the first failure.
pub const FAST_CONNECT_RETRY: Duration = Duration::from_secs(3);

/// Connect retry after every later failure (forever for discovery controllers).
pub const CONNECT_RETRY: Duration = Duration::from_secs(60);

/// Reconnect delay after the kernel removed the controller (`remove` uevent).
pub const RETRY_AFTER_REMOVE: Duration = Duration::from_secs(3);

/// TP8010 DIM registration retry.
pub const REGISTRATION_RETRY: Duration = Duration::from_secs(5);

/// Supported Log Pages retry.
pub const GET_SUPPORTED_RETRY: Duration = Duration::from_secs(5);

/// Discovery log page retry.
pub const GET_LOG_PAGE_RETRY: Duration = Duration::from_secs(20);
