//! What the load tool's own connections carried, as quinn counted it. The machine-wide datagram
//! count (`/proc/net/snmp`) says how many packets the work took; this says which way they went and
//! what was in them. In `connect`, with 1000 clients, 16.9 and 21.4 of a join's 24.7 and 28
//! datagrams came from the server (two runs), 12.5 and 17 of them with stream data: the `Welcome`
//! and the `Presence` frames, both as long as the room. In `fanout` it separates the lines going
//! out from the acknowledgements coming back.

use super::round2;
use crate::report::Report;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientTraffic {
    datagrams_received: u64,
    datagrams_sent: u64,
    stream_frames_received: u64,
    acks_received: u64,
    acks_sent: u64,
}

impl ClientTraffic {
    /// The sums over `conns`, as of now.
    pub(super) fn of<'a>(conns: impl Iterator<Item = &'a quinn::Connection>) -> Self {
        conns.fold(Self::default(), |t, conn| t.plus(&conn.stats()))
    }

    fn plus(self, s: &quinn::ConnectionStats) -> Self {
        Self {
            datagrams_received: self.datagrams_received + s.udp_rx.datagrams,
            datagrams_sent: self.datagrams_sent + s.udp_tx.datagrams,
            stream_frames_received: self.stream_frames_received + s.frame_rx.stream,
            acks_received: self.acks_received + s.frame_rx.acks,
            acks_sent: self.acks_sent + s.frame_tx.acks,
        }
    }

    /// What was carried since `earlier`, a snapshot of the same connections.
    pub(super) fn since(self, earlier: Self) -> Self {
        Self {
            datagrams_received: self
                .datagrams_received
                .saturating_sub(earlier.datagrams_received),
            datagrams_sent: self.datagrams_sent.saturating_sub(earlier.datagrams_sent),
            stream_frames_received: self
                .stream_frames_received
                .saturating_sub(earlier.stream_frames_received),
            acks_received: self.acks_received.saturating_sub(earlier.acks_received),
            acks_sent: self.acks_sent.saturating_sub(earlier.acks_sent),
        }
    }

    /// Adds `client_..._per_<unit>` fields: received is what the server sent the clients, sent
    /// what the clients sent the server.
    pub(super) fn add_to(&self, report: &mut Report, unit: &str, units: u64) {
        let per = |n: u64| (units > 0).then(|| round2(n as f64 / units as f64));
        report
            .add(
                &format!("client_datagrams_received_per_{unit}"),
                per(self.datagrams_received),
            )
            .add(
                &format!("client_datagrams_sent_per_{unit}"),
                per(self.datagrams_sent),
            )
            .add(
                &format!("client_stream_frames_received_per_{unit}"),
                per(self.stream_frames_received),
            )
            .add(
                &format!("client_acks_received_per_{unit}"),
                per(self.acks_received),
            )
            .add(&format!("client_acks_sent_per_{unit}"), per(self.acks_sent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_subtracts_each_count() {
        let earlier = ClientTraffic {
            datagrams_received: 10,
            datagrams_sent: 4,
            stream_frames_received: 7,
            acks_received: 2,
            acks_sent: 3,
        };
        let later = ClientTraffic {
            datagrams_received: 110,
            datagrams_sent: 14,
            stream_frames_received: 97,
            acks_received: 12,
            acks_sent: 9,
        };
        let d = later.since(earlier);
        assert_eq!(
            (
                d.datagrams_received,
                d.datagrams_sent,
                d.stream_frames_received,
                d.acks_received,
                d.acks_sent
            ),
            (100, 10, 90, 10, 6)
        );
    }
}
