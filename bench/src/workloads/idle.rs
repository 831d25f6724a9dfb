//! `idle -n N`: N clients connect, join and stay quiet. Reports the server's resident memory before and
//! after, and the difference per connection (in a cluster: the nodes' memory summed).
//!
//! The clients' keep-alives (every few seconds) are the only traffic once the room has settled; the
//! "after" reading waits for the joins' `Joined` notices to drain so that queued frames are not
//! counted as the cost of a connection.

use std::{sync::Arc, time::Duration};

use anyhow::Result;

use super::{Meter, Pool, Target, join_all, round2};
use crate::report::Report;

/// Time for the room to settle after the last join before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub clients: usize,
    pub join_concurrency: usize,
}

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub joined: usize,
}

pub async fn run(target: &Target, p: Params) -> Result<Outcome> {
    let n = p.clients;
    let pool = Arc::new(Pool::new(target, n)?);
    let meter = Meter::start(target)?;
    let members = join_all(
        &pool,
        target,
        &super::unique_prefix('i'),
        n,
        p.join_concurrency,
    )
    .await?;
    let mut held = Vec::with_capacity(n);
    for mut member in members {
        let drain =
            tokio::spawn(async move { while let Ok(Some(_)) = member.recv.next_frame().await {} });
        held.push((member.conn, member.send, drain));
    }
    tokio::time::sleep(SETTLE).await;
    let cost = meter.finish()?;
    let joined = held
        .iter()
        .filter(|(c, _, _)| c.close_reason().is_none())
        .count();
    for (conn, _, drain) in &held {
        conn.close(
            quinn::VarInt::from_u32(wire::close_code::NORMAL),
            b"bench done",
        );
        drain.abort();
    }

    let mut report = Report::new("idle");
    report.add("clients", n).add("connected", joined);
    if let (Some(before), Some(after)) = (cost.before, cost.after) {
        let grown = after.rss_kib.saturating_sub(before.rss_kib);
        report
            .add("server_rss_before_kib", before.rss_kib)
            .add("server_rss_after_kib", after.rss_kib)
            .add(
                "server_kib_per_connection",
                round2(grown as f64 / n.max(1) as f64),
            );
    }
    cost.add_to(&mut report, "connection", joined as u64);
    Ok(Outcome { report, joined })
}
