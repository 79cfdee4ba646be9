//! What a reconcile pass of either core reads off the core before it runs: the host names of
//! `controller=` entries and the interface addresses. Names are resolved concurrently, each
//! bounded by [`RESOLVE_TIMEOUT`], so a dead DNS name costs one timeout for the whole pass,
//! not one per name, and delays no other name. [`Pass`] runs one such read at a time for a
//! core, queues one more when asked meanwhile, and says what to do with what comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use tokio::sync::mpsc;

use crate::config::exclusions::ExclusionList;
use crate::ctrl::reconcile::{pick_address, NameCache};
use crate::kernel::{IfAddr, Kernel};
use crate::model::filter::IpFamily;

/// What a pass read off the core: the host names' addresses and the interface addresses,
/// for the configuration of `generation`.
#[derive(Debug)]
pub struct PassInputs {
    /// The core's configuration generation when the pass started.
    pub generation: u64,
    /// The names' addresses (`None`: the lookup failed).
    pub resolved: BTreeMap<String, Option<IpAddr>>,
    /// The interface addresses (`None`: unreadable).
    pub ifaddrs: Option<Vec<IfAddr>>,
    /// What the host's files say now: the owned controllers of the registry and the
    /// exclusion list (`None`: the blocking read failed).
    pub host: Option<HostFiles>,
}

/// What a pass reads of the files other orchestrators share with stas (nvme-cli 3).
#[derive(Debug, Clone, Default)]
pub struct HostFiles {
    /// Device → owner, for every owned controller of the registry.
    pub owners: BTreeMap<String, String>,
    /// `/etc/nvme/exclusions.conf(.d)`.
    pub exclusions: ExclusionList,
}

/// What a core does with [`PassInputs`] that came back.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// Nothing (the core is shutting down).
    Ignore,
    /// The configuration changed meanwhile: start a new pass.
    Restart,
    /// Reconcile with these addresses (the names' last good ones kept for failed lookups),
    /// then start the pass queued meanwhile if [`Pass::again`] says so.
    Apply(BTreeMap<String, Option<IpAddr>>),
}

/// One core's reconcile passes: at most one reading its inputs at a time, one more queued.
#[derive(Debug, Default)]
pub struct Pass {
    running: bool,
    again: bool,
    names: NameCache,
}

impl Pass {
    /// Starts reading the inputs of a pass (through `tx`, as `wrap(inputs)`) unless one is
    /// running; then one more is queued for when it finishes. Whether it started.
    pub fn start<I: Send + 'static>(
        &mut self,
        kernel: Arc<dyn Kernel>,
        names: BTreeSet<String>,
        family: IpFamily,
        generation: u64,
        tx: mpsc::Sender<I>,
        wrap: fn(PassInputs) -> I,
    ) -> bool {
        if self.running {
            self.again = true;
            return false;
        }
        self.running = true;
        tokio::spawn(async move {
            let (resolved, (ifaddrs, host)) = pass_inputs(kernel, names, family).await;
            let _ = tx
                .send(wrap(PassInputs {
                    generation,
                    resolved,
                    ifaddrs,
                    host,
                }))
                .await;
        });
        true
    }

    /// The inputs came back: updates `ifaddrs` and `host` when they were read, and says
    /// what to do.
    pub fn finish(
        &mut self,
        inputs: PassInputs,
        generation: u64,
        shutting_down: bool,
        (ifaddrs, host): (&mut Vec<IfAddr>, &mut HostFiles),
    ) -> Finished {
        self.running = false;
        if shutting_down {
            return Finished::Ignore;
        }
        if let Some(i) = inputs.ifaddrs {
            *ifaddrs = i;
        }
        if let Some(h) = inputs.host {
            *host = h;
        }
        if inputs.generation != generation {
            return Finished::Restart;
        }
        Finished::Apply(self.names.apply(inputs.resolved))
    }

    /// Whether a pass was asked for while the last one ran (and is now due).
    pub fn again(&mut self) -> bool {
        std::mem::take(&mut self.again)
    }
}

/// How long one host-name lookup may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The names' addresses (`None`: failed or timed out, logged), and the interface
/// addresses (`None`: unreadable, logged) with the registry's owners and the exclusion
/// list, all read at once.
pub async fn pass_inputs(
    kernel: Arc<dyn Kernel>,
    names: BTreeSet<String>,
    family: IpFamily,
) -> (
    BTreeMap<String, Option<IpAddr>>,
    (Option<Vec<IfAddr>>, Option<HostFiles>),
) {
    let reads = async move {
        let read = move || {
            let ifaddrs = kernel.interface_addresses();
            let host = HostFiles {
                owners: kernel.owners(),
                exclusions: kernel.exclusions(),
            };
            (ifaddrs, host)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok((Ok(v), host)) => (Some(v), Some(host)),
            Ok((Err(e), host)) => {
                tracing::warn!(error = %e, "cannot list interface addresses");
                (None, Some(host))
            }
            Err(_) => (None, None),
        }
    };
    tokio::join!(resolve_all(names, family, system_lookup), reads)
}

/// The system resolver (getaddrinfo on a blocking thread).
async fn system_lookup(name: String) -> io::Result<Vec<IpAddr>> {
    Ok(tokio::net::lookup_host((name, 0u16))
        .await?
        .map(|s| s.ip())
        .collect())
}

/// Every name looked up at once through `lookup`, each bounded by [`RESOLVE_TIMEOUT`].
async fn resolve_all<F, Fut>(
    names: BTreeSet<String>,
    family: IpFamily,
    lookup: F,
) -> BTreeMap<String, Option<IpAddr>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = io::Result<Vec<IpAddr>>>,
{
    let lookups = names.into_iter().map(|name| {
        let answer = lookup(name.clone());
        async move {
            let addr = resolve(&name, family, answer).await;
            (name, addr)
        }
    });
    join_all(lookups).await.into_iter().collect()
}

async fn resolve(
    name: &str,
    family: IpFamily,
    answer: impl Future<Output = io::Result<Vec<IpAddr>>>,
) -> Option<IpAddr> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, answer).await {
        Ok(Ok(addrs)) => pick_address(&addrs, family),
        Ok(Err(e)) => {
            tracing::error!(name, error = %e, "cannot resolve host name");
            None
        }
        Err(_) => {
            tracing::error!(name, "host name resolution timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Three dead names and a live one: the live one is answered, the dead ones time out
    /// together, so the pass waits one timeout in all, not one per dead name.
    #[tokio::test(start_paused = true)]
    async fn dead_names_cost_one_timeout_together() {
        let names: BTreeSet<String> = [
            "dead1.example",
            "dead2.example",
            "dead3.example",
            "dc.example",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let t0 = Instant::now();
        let got = resolve_all(names, IpFamily::default(), |name: String| async move {
            if name.starts_with("dead") {
                std::future::pending().await
            } else {
                Ok(vec!["192.0.2.9".parse().unwrap()])
            }
        })
        .await;
        assert_eq!(
            t0.elapsed(),
            RESOLVE_TIMEOUT,
            "virtual time: one timeout in all"
        );
        assert_eq!(got["dc.example"], Some("192.0.2.9".parse().unwrap()));
        for d in ["dead1.example", "dead2.example", "dead3.example"] {
            assert_eq!(got[d], None);
        }
    }
}
