//! What a process has cost so far, read from `/proc` (Linux only).
//!
//! CPU is `utime + stime` from `/proc/PID/stat`, in clock ticks. The tick length is asked of
//! `getconf CLK_TCK` once rather than assumed (calling `sysconf` would need `unsafe`, which the
//! workspace forbids). Memory is `VmRSS` (now) and `VmHWM` (peak since start) from `/proc/PID/status`.

use std::{process::Command, sync::OnceLock, time::Duration};

use anyhow::{Context, Result, bail};

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// User plus system CPU time of all its threads so far.
    pub cpu: Duration,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory since the process started, KiB.
    pub hwm_kib: u64,
}

impl Sample {
    /// Reads the counters of process `pid`.
    pub fn read(pid: u32) -> Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat: is the server running?"))?;
        let ticks = cpu_ticks(&stat)?;
        let hz = clock_ticks_per_second()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        Ok(Self {
            cpu: Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz),
            rss_kib: status_kib(&status, "VmRSS:")?,
            hwm_kib: status_kib(&status, "VmHWM:")?,
        })
    }

    /// Several processes' counters added up (a cluster's nodes); `None` for none. The peak is the sum
    /// of each one's peak, an upper bound of their joint peak, which `/proc` does not keep.
    pub fn sum(samples: &[Self]) -> Option<Self> {
        let (first, rest) = samples.split_first()?;
        Some(rest.iter().fold(*first, |acc, s| Self {
            cpu: acc.cpu + s.cpu,
            rss_kib: acc.rss_kib + s.rss_kib,
            hwm_kib: acc.hwm_kib + s.hwm_kib,
        }))
    }
}

/// `utime + stime` from the text of `/proc/PID/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Result<u64> {
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("unexpected /proc/PID/stat format")?;
    // After the name: field 3 (state) is index 0, so utime (field 14) is index 11, stime index 12.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse()
            .context("non-numeric /proc/PID/stat field")
    };
    Ok(field(11)? + field(12)?)
}

/// The value in KiB of a `Name:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, name: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .with_context(|| format!("no {name} in /proc/PID/status"))?;
    line[name.len()..]
        .split_whitespace()
        .next()
        .context("empty status line")?
        .parse()
        .with_context(|| format!("bad {name} line"))
}

/// The whole machine's UDP counters so far, from one read of `/proc/net/snmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpCounters {
    /// Datagrams sent (`OutDatagrams`). On loopback every datagram of the server and of the load
    /// tool is counted once, so around a workload on an otherwise idle machine it says how many
    /// packets the work took; cost follows packets.
    pub sent: u64,
    /// Datagrams dropped because a socket's receive buffer was full (`RcvbufErrors`). On loopback a
    /// drop is a packet the sender must send again, late: a workload that drops has measured
    /// retransmission timers, not only the server.
    pub receive_drops: u64,
}

impl UdpCounters {
    pub fn read() -> Result<Self> {
        let snmp =
            std::fs::read_to_string("/proc/net/snmp").context("cannot read /proc/net/snmp")?;
        Ok(Self {
            sent: snmp_udp_field(&snmp, "OutDatagrams")?,
            receive_drops: snmp_udp_field(&snmp, "RcvbufErrors")?,
        })
    }
}

/// One field of the `Udp:` lines of `/proc/net/snmp`: a line of names followed by a line of values.
fn snmp_udp_field(snmp: &str, name: &str) -> Result<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = udp
        .next()
        .zip(udp.next())
        .context("no Udp lines in /proc/net/snmp")?;
    let column = names
        .split_whitespace()
        .position(|n| n == name)
        .with_context(|| format!("no {name} in /proc/net/snmp"))?;
    values
        .split_whitespace()
        .nth(column)
        .context("short Udp line in /proc/net/snmp")?
        .parse()
        .with_context(|| format!("non-numeric {name} in /proc/net/snmp"))
}

/// CPU time the hypervisor gave to others while this machine's CPUs wanted it (`steal` of the `cpu`
/// line of `/proc/stat`, all CPUs together). On a VM a run's latency outliers follow it: fanout
/// 100 × 20 runs with p99 of 14 and 22 ms had 760 ms and 2.1 s of steal; the runs with at most
/// 20 ms had p99 1.2–1.7 ms. A run with steal measured the host as well as the server.
pub fn steal_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks = steal_ticks(&stat)?;
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / clock_ticks_per_second()?,
    ))
}

/// The steal ticks of the all-CPU line of `/proc/stat`: `cpu  user nice system idle iowait irq
/// softirq steal ...`. Kernels too old to count steal have fewer columns, read as none.
fn steal_ticks(stat: &str) -> Result<u64> {
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .context("no cpu line in /proc/stat")?;
    match line.split_whitespace().nth(8) {
        None => Ok(0),
        Some(steal) => steal.parse().context("non-numeric steal in /proc/stat"),
    }
}

/// Clock ticks per second, from `getconf CLK_TCK` (asked once).
pub fn clock_ticks_per_second() -> Result<u64> {
    static HZ: OnceLock<Result<u64, String>> = OnceLock::new();
    let hz = HZ.get_or_init(|| {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .map_err(|e| format!("cannot run getconf CLK_TCK: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("getconf CLK_TCK printed no number: {e}"))
    });
    match hz {
        Ok(0) => bail!("getconf CLK_TCK said 0"),
        Ok(hz) => Ok(*hz),
        Err(e) => bail!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let stat = "42 (chat) server) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_ticks(stat).expect("parses"), 300);
    }

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:").expect("rss"), 1024);
        assert_eq!(status_kib(status, "VmHWM:").expect("hwm"), 2048);
    }

    #[test]
    fn parses_steal_of_all_cpus() {
        let stat = "cpu  4457082 0 428964 1930856 14183 0 58933 14714 0 0\n\
                    cpu0 2269501 0 200453 927174 7884 0 39203 6189 0 0\n\
                    intr 1 2 3\n";
        assert_eq!(steal_ticks(stat).expect("steal"), 14714);
        assert_eq!(steal_ticks("cpu  1 2 3 4 5 6 7\n").expect("old kernel"), 0);
        assert!(steal_ticks("cpu0 1 2 3 4 5 6 7 8\n").is_err());
        assert!(steal_ticks("cpu  1 2 3 4 5 6 7 x\n").is_err());
    }

    #[test]
    fn sums_several_processes() {
        let one = |ms, rss, hwm| Sample {
            cpu: Duration::from_millis(ms),
            rss_kib: rss,
            hwm_kib: hwm,
        };
        assert_eq!(Sample::sum(&[]), None);
        assert_eq!(
            Sample::sum(&[one(10, 100, 150), one(5, 200, 300)]),
            Some(one(15, 300, 450))
        );
    }

    #[test]
    fn parses_snmp_udp_lines() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\n\
                    Udp: 120 3 0 118 7\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams\nUdpLite: 0 0 0 0\n";
        assert_eq!(snmp_udp_field(snmp, "OutDatagrams").expect("out"), 118);
        assert_eq!(snmp_udp_field(snmp, "RcvbufErrors").expect("drops"), 7);
        assert!(snmp_udp_field(snmp, "Nonsense").is_err());
    }

    #[test]
    fn reads_our_own_process() {
        let s = Sample::read(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
