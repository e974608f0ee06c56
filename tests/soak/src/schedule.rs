//! The seeded schedule: which fault comes next, where, and how long a MAAS fault lasts. The
//! same seed gives the same schedule, so a violation can be replayed (`SOAK_SEED`).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// Every kind of fault the soak injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Every process of a compute node dies at once.
    PowerLoss,
    /// kill -9 of one guest's qemu.
    GuestCrash,
    /// kill -9 of one guest's qemu, and again as soon as its restart runs.
    GuestCrashTwice,
    /// A live compute host's links are cut: host, pacemaker_remoted and guests keep running.
    Partition,
    /// pacemaker_remoted killed on a live compute host (its guests keep running).
    RemotedKill,
    /// Two compute hosts lose power within 2 s of each other.
    TwoHosts,
    /// A compute host loses power while MAAS answers 503, hangs or is slow for 30-90 s.
    MaasTrouble,
    /// A compute host loses power and a control-plane service (keystone, RabbitMQ,
    /// masakari-api, masakari-engine) restarts during its recovery.
    ServiceRestart,
    /// A compute host loses power while MAAS is slow; the DC is killed while the fencing is in
    /// flight.
    DcKill,
    /// A compute host loses power while another one is being reinserted.
    DuringReinsert,
}

pub const ALL_KINDS: [FaultKind; 10] = [
    FaultKind::PowerLoss,
    FaultKind::GuestCrash,
    FaultKind::GuestCrashTwice,
    FaultKind::Partition,
    FaultKind::RemotedKill,
    FaultKind::TwoHosts,
    FaultKind::MaasTrouble,
    FaultKind::ServiceRestart,
    FaultKind::DcKill,
    FaultKind::DuringReinsert,
];

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::PowerLoss => "power-loss",
            FaultKind::GuestCrash => "guest-crash",
            FaultKind::GuestCrashTwice => "guest-crash-twice",
            FaultKind::Partition => "partition",
            FaultKind::RemotedKill => "remoted-kill",
            FaultKind::TwoHosts => "two-hosts",
            FaultKind::MaasTrouble => "maas-trouble",
            FaultKind::ServiceRestart => "service-restart",
            FaultKind::DcKill => "dc-kill",
            FaultKind::DuringReinsert => "during-reinsert",
        }
    }

    /// Does it take a compute host down (fencing, evacuation, reinsert)?
    pub fn fails_hosts(self) -> bool {
        !matches!(self, FaultKind::GuestCrash | FaultKind::GuestCrashTwice)
    }

    /// A host fault that touches its victim alone (its power, links, pacemaker_remoted, its
    /// MAAS machine): it may come while a host of the other segment is being reinserted. The
    /// others need every host up: two victims, the DC (the harness's cluster commands go
    /// through it), a reinsert of their own, or the control plane every reinsert talks to.
    pub fn overlaps_reinserts(self) -> bool {
        matches!(
            self,
            FaultKind::PowerLoss
                | FaultKind::Partition
                | FaultKind::RemotedKill
                | FaultKind::MaasTrouble
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// MAAS's trouble in a [`FaultKind::MaasTrouble`] fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaasTrouble {
    /// 503 "Unable to connect to any rack controller".
    Unavailable,
    /// Requests never answered.
    Hang,
    /// Every answer 5 s late.
    Slow,
}

impl MaasTrouble {
    /// The MAAS simulator's name for it.
    pub fn sim_fault(self) -> &'static str {
        match self {
            MaasTrouble::Unavailable => "503",
            MaasTrouble::Hang => "hang",
            MaasTrouble::Slow => "slow",
        }
    }
}

pub const SERVICES: [&str; 4] = ["keystone", "rabbitmq", "masakari-api", "masakari-engine"];

/// The random choices of one soak, from its seed.
pub struct Schedule {
    rng: ChaCha8Rng,
    /// The kinds this soak injects.
    kinds: Vec<FaultKind>,
    /// What is left of the current round: faults come in rounds, each every kind once in a
    /// seeded order, so a short soak meets each kind and a long one meets each as often.
    owed: Vec<FaultKind>,
    rounds: u32,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule::of(seed, &ALL_KINDS)
    }

    /// A schedule of only these kinds.
    pub fn of(seed: u64, kinds: &[FaultKind]) -> Schedule {
        let mut s = Schedule {
            rng: ChaCha8Rng::seed_from_u64(seed),
            kinds: kinds.to_vec(),
            owed: Vec::new(),
            rounds: 0,
        };
        s.new_round();
        s
    }

    fn new_round(&mut self) {
        let mut owed = self.kinds.clone();
        owed.shuffle(&mut self.rng);
        owed.reverse();
        self.owed = owed;
        self.rounds += 1;
    }

    /// The next kind: the round's next one that `possible` allows now (a host fault needs
    /// hosts up, a guest fault the guest lane free); None when none is: the caller waits.
    pub fn next_kind(&mut self, possible: impl Fn(FaultKind) -> bool) -> Option<FaultKind> {
        if self.owed.is_empty() {
            self.new_round();
        }
        let pos = self.owed.iter().rposition(|k| possible(*k))?;
        Some(self.owed.remove(pos))
    }

    /// A guest fault outside the rounds, for a long soak's guest lane while the round's host
    /// faults wait for hosts: mostly single crashes (a double one keeps the lane a minute).
    pub fn filler(&mut self) -> FaultKind {
        if self.rng.gen_ratio(1, 3) && self.kinds.contains(&FaultKind::GuestCrashTwice) {
            FaultKind::GuestCrashTwice
        } else {
            FaultKind::GuestCrash
        }
    }

    /// Puts back a kind that could not be injected (no guest to crash): it comes next.
    pub fn give_back(&mut self, kind: FaultKind) {
        self.owed.push(kind);
    }

    /// Kinds the current round still owes.
    pub fn owed(&self) -> &[FaultKind] {
        &self.owed
    }

    /// Whether the first round (every kind once) is done.
    pub fn first_round_done(&self) -> bool {
        self.rounds > 1 || self.owed.is_empty()
    }

    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> Option<&'a T> {
        from.choose(&mut self.rng)
    }

    /// Seconds between the end of one fault's recovery and the next fault.
    pub fn gap_secs(&mut self) -> u64 {
        self.rng.gen_range(1..=4)
    }

    pub fn maas_trouble(&mut self) -> (MaasTrouble, u64) {
        let kind = *[
            MaasTrouble::Unavailable,
            MaasTrouble::Hang,
            MaasTrouble::Slow,
        ]
        .choose(&mut self.rng)
        .unwrap_or(&MaasTrouble::Unavailable);
        (kind, self.rng.gen_range(30..=90))
    }

    pub fn service(&mut self) -> &'static str {
        SERVICES[self.rng.gen_range(0..SERVICES.len())]
    }

    /// Milliseconds between the two hosts of [`FaultKind::TwoHosts`] (within 2 s).
    pub fn second_host_delay_ms(&mut self) -> u64 {
        self.rng.gen_range(0..=2000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_comes_first_once_and_the_same_seed_gives_the_same_schedule() {
        let mut a = Schedule::new(7);
        let mut b = Schedule::new(7);
        let first: Vec<FaultKind> = (0..ALL_KINDS.len())
            .filter_map(|_| a.next_kind(|_| true))
            .collect();
        let again: Vec<FaultKind> = (0..ALL_KINDS.len())
            .filter_map(|_| b.next_kind(|_| true))
            .collect();
        assert_eq!(first, again);
        let mut sorted = first.clone();
        sorted.sort();
        let mut all = ALL_KINDS.to_vec();
        all.sort();
        assert_eq!(sorted, all);
        assert!(a.owed().is_empty() && a.first_round_done());
        // The next round: every kind once more.
        let mut second: Vec<FaultKind> = (0..ALL_KINDS.len())
            .filter_map(|_| a.next_kind(|_| true))
            .collect();
        second.sort();
        assert_eq!(second, all);
        let other: Vec<FaultKind> = {
            let mut c = Schedule::new(8);
            (0..ALL_KINDS.len())
                .filter_map(|_| c.next_kind(|_| true))
                .collect()
        };
        assert_ne!(first, other, "another seed, another order");
    }

    #[test]
    fn kinds_that_cannot_come_now_wait_their_turn() {
        let mut s = Schedule::new(1);
        let guest = |k: FaultKind| !k.fails_hosts();
        let first = s.next_kind(guest);
        let second = s.next_kind(guest);
        assert!(first.is_some_and(guest) && second.is_some_and(guest));
        assert_eq!(s.next_kind(guest), None, "only host kinds are owed");
        assert_eq!(s.next_kind(|_| false), None);
        assert_eq!(s.owed().len(), ALL_KINDS.len() - 2);
        assert!(s.owed().iter().all(|k| k.fails_hosts()));
        // Fillers are guest faults.
        assert!((0..20).all(|_| !s.filler().fails_hosts()));
    }
}
