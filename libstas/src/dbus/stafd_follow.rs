//! stacd's client of stafd: follows `org.nvmexpress.staf` on the bus and tells the stacd
//! core what stafd knows, as [`StafdView`]s.
//!
//! - At start, when stafd's name gets an owner, on `log_pages_changed` and on `dc_removed`:
//!   `get_all_log_pages(true)`, parsed into [`StafdView::Known`]. Signals that arrive while a
//!   call is under way are coalesced into one more call.
//! - When the name has no owner, loses it, or the call fails or times out:
//!   [`StafdView::Unknown`] (DECISIONS.md item 8: the core then keeps every connection stafd
//!   may want). A failed call on a running stafd is retried after [`FETCH_RETRY`]; nothing
//!   is polled otherwise.
//!
//! The subscriptions are made before the first question, so no change can fall between the
//! two.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zbus::fdo::DBusProxy;
use zbus::names::BusName;
use zbus::proxy::CacheProperties;
use zbus::Connection;

use super::names::STAF_BUS_NAME;
use super::proxy::StafProxy;
use super::shapes::StrDict;
use crate::ctrl::stac_reconcile::{DcLog, StafdView};

/// How long one `get_all_log_pages` call may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// When a failed call on a running stafd is tried again.
pub const FETCH_RETRY: Duration = Duration::from_secs(5);

/// Following stafd could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot follow stafd on D-Bus: {0}")]
pub struct FollowError(String);

/// The running follower; dropping it stops it.
#[derive(Debug)]
pub struct StafdFollower {
    task: JoinHandle<()>,
}

impl Drop for StafdFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StafdFollower {
    /// Stops following and waits for the task to end (it holds a clone of the connection).
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

/// One element of `get_all_log_pages`.
#[derive(Debug, Deserialize)]
struct WireDc {
    #[serde(rename = "discovery-controller")]
    dc: StrDict,
    #[serde(rename = "log-pages", default)]
    pages: Vec<StrDict>,
}

/// Parses the JSON text of `get_all_log_pages(true)`.
///
/// # Errors
/// The text is not a list of `{"discovery-controller": {…}, "log-pages": […]}` objects
/// with string values.
pub fn parse_all_log_pages(json: &str) -> Result<Vec<DcLog>, serde_json::Error> {
    let list: Vec<WireDc> = serde_json::from_str(json)?;
    Ok(list
        .into_iter()
        .map(|w| DcLog::from_wire(&w.dc, w.pages))
        .collect())
}

/// Subscribes to stafd's name and signals on `conn`, then follows stafd in a task, sending
/// every view to `tx` (the first one at once). Stops when `tx` closes or the follower is
/// dropped.
///
/// # Errors
/// The subscriptions could not be made.
pub async fn follow_stafd(
    conn: &Connection,
    tx: mpsc::Sender<StafdView>,
) -> Result<StafdFollower, FollowError> {
    let err = |e: zbus::Error| FollowError(e.to_string());
    let dbus = DBusProxy::new(conn).await.map_err(err)?;
    let owner = dbus
        .receive_name_owner_changed_with_args(&[(0, STAF_BUS_NAME)])
        .await
        .map_err(err)?;
    let staf = StafProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(err)?;
    let changed = staf.receive_log_pages_changed().await.map_err(err)?;
    let removed = staf.receive_dc_removed().await.map_err(err)?;
    let task = tokio::spawn(async move {
        let mut owner = owner;
        let mut changed = changed;
        let mut removed = removed;
        let mut fetch_now = match BusName::try_from(STAF_BUS_NAME) {
            Ok(name) => match dbus.name_has_owner(name).await {
                Ok(true) => true,
                Ok(false) => {
                    tracing::info!("stafd is not on the bus yet");
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask the bus about stafd");
                    false
                }
            },
            Err(_) => false,
        };
        if !fetch_now && tx.send(StafdView::Unknown).await.is_err() {
            return;
        }
        let mut retry: Option<Instant> = None;
        // A dc_removed signal since the last answer (it tells the core that a controller
        // missing from the next answer is gone, not just not created yet).
        let mut dc_removed = false;
        loop {
            if fetch_now {
                fetch_now = false;
                // Signals already queued are answered by this one call.
                while let Some(Some(_)) = changed.next().now_or_never() {}
                while let Some(Some(_)) = removed.next().now_or_never() {
                    dc_removed = true;
                }
                let (view, again) = fetch(&staf, dc_removed).await;
                if matches!(view, StafdView::Known { .. }) {
                    dc_removed = false;
                }
                retry = again.then(|| Instant::now() + FETCH_RETRY);
                if tx.send(view).await.is_err() {
                    return;
                }
                continue;
            }
            tokio::select! {
                s = owner.next() => match s.map(|s| s.args().map(|a| a.new_owner().is_some())) {
                    Some(Ok(true)) => {
                        tracing::info!("stafd appeared on the bus");
                        fetch_now = true;
                    }
                    Some(Ok(false)) => {
                        tracing::info!("stafd left the bus");
                        retry = None;
                        if tx.send(StafdView::Unknown).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "unreadable NameOwnerChanged"),
                    None => {
                        // The daemon reports the lost bus itself (and exits).
                        tracing::debug!("the bus connection ended: no more news from stafd");
                        let _ = tx.send(StafdView::Unknown).await;
                        return;
                    }
                },
                Some(_) = changed.next() => fetch_now = true,
                Some(_) = removed.next() => {
                    dc_removed = true;
                    fetch_now = true;
                }
                () = sleep_until_opt(retry) => {
                    retry = None;
                    fetch_now = true;
                }
                () = tx.closed() => return,
            }
        }
    });
    Ok(StafdFollower { task })
}

/// Asks stafd once. Returns the view and whether to retry later (a failure of a stafd that
/// owns its name).
async fn fetch(staf: &StafProxy<'_>, dc_removed: bool) -> (StafdView, bool) {
    let r = tokio::time::timeout(FETCH_TIMEOUT, staf.get_all_log_pages(true)).await;
    match r {
        Ok(Ok(json)) => match parse_all_log_pages(&json) {
            Ok(list) => {
                tracing::debug!(controllers = list.len(), "stafd's discovery log pages read");
                (
                    StafdView::Known {
                        dcs: list,
                        dc_removed,
                    },
                    false,
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "stafd's get_all_log_pages reply cannot be read");
                (StafdView::Unknown, true)
            }
        },
        Ok(Err(e)) => {
            let gone = matches!(&e, zbus::Error::MethodError(name, _, _)
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                    || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner");
            if gone {
                tracing::info!("stafd is not on the bus");
            } else {
                tracing::warn!(error = %e, "cannot read stafd's log pages; retrying in 5 s");
            }
            (StafdView::Unknown, !gone)
        }
        Err(_) => {
            tracing::warn!("stafd did not answer get_all_log_pages in time; retrying in 5 s");
            (StafdView::Unknown, true)
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::sample;
    use crate::dbus::shapes::all_log_pages;

    #[test]
    fn parses_what_stafd_publishes() {
        let snap = sample::staf_snapshot();
        let json = all_log_pages(&snap, true).unwrap();
        let list = parse_all_log_pages(&json).unwrap();
        let dcs: Vec<_> = snap.ctrls.iter().filter(|c| c.dc.is_some()).collect();
        assert_eq!(list.len(), dcs.len());
        for (l, c) in list.iter().zip(&dcs) {
            assert_eq!(l.dc, c.tid);
            let n = c.dc.as_ref().unwrap().log_pages.len();
            if n > 0 {
                assert_eq!(l.entries.as_ref().map(Vec::len), Some(n));
            }
        }
        assert!(parse_all_log_pages("[]").unwrap().is_empty());
        assert!(parse_all_log_pages("{}").is_err());
        assert!(parse_all_log_pages(r#"[{"discovery-controller": {"a": 1}}]"#).is_err());
    }
}
