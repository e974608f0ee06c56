//! The soak's runner: the cloud it sets up, each fault's injection, the recovery it waits for,
//! the invariants checked at the end of each episode, and the walkthrough's reinsert of every
//! failed host (in the background, so the next fault may come while a host is reinserted).

use crate::report::Episode;
use crate::schedule::{FaultKind, Schedule};
use crate::watch::{Violation, Watcher};
use crate::{Plan, RECOVERY_BOUND, SEGMENTS, SERVERS};
use oxha_multinode::{now, FULL_NODES};
use oxha_openstack_env::{Compute, OpenStack, ALL_COMPUTES};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An HA instance of the soak.
#[derive(Clone, Debug)]
pub struct Server {
    pub name: &'static str,
    pub id: String,
    /// libvirt's name (`instance-0000000a`): what its qemu's `guest=` says.
    pub instance: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    Up,
    /// Failed: fenced and evacuated, or on its way there.
    Down,
    /// Being booted and reinserted.
    Reinserting,
}

pub struct Soak<'a> {
    pub os: &'a OpenStack,
    pub plan: Plan,
    pub watcher: Watcher,
    pub servers: Vec<Server>,
    hosts: Mutex<BTreeMap<&'static str, HostState>>,
    /// Masakari's segment host uuid → host name (notifications name hosts by uuid).
    host_uuids: BTreeMap<String, String>,
    pub episodes: Mutex<Vec<Episode>>,
    violations: Mutex<Vec<Violation>>,
    /// The host of the guest the guest lane is crashing: no host fault strikes it meanwhile
    /// (its crash would lose the VM notification that invariant 4 asks for).
    guest_lane_host: Mutex<Option<String>>,
    /// When each host was last put in service (the start, or its reinsert's end): a MAAS
    /// power-off after that, with no fault on it, is a collateral fencing.
    up_since: Mutex<BTreeMap<&'static str, f64>>,
    /// The last host fault injected, the likely cause of a collateral fencing.
    last_host_fault: Mutex<Option<(FaultKind, f64)>>,
    pub started: f64,
}

fn compute_of(host: &str) -> Compute {
    oxha_openstack_env::compute(host)
}

fn segment_of(host: &str) -> &'static str {
    SEGMENTS
        .iter()
        .find(|(_, _, hosts, _)| hosts.iter().any(|&i| ALL_COMPUTES[i].host == host))
        .map(|(name, ..)| *name)
        .unwrap_or("none")
}

/// A fault of the MAAS simulator's machine for `node` (`""`: none), 5 s an answer when slow.
fn set_maas_fault(os: &OpenStack, node: &str, fault: &str) {
    os.cluster
        .maas_ctl(
            "POST",
            &format!("/_sim/machines/{node}"),
            Some(&format!("{{\"fault\":\"{fault}\",\"slow_ms\":5000}}")),
        )
        .expect_ok();
}

/// When MAAS recorded `node` powered off, after `since`.
fn maas_off_at(os: &OpenStack, node: &str, since: f64) -> Option<f64> {
    let machine = oxha_multinode::maas_hostname(node);
    oxha_multinode::storm::maas_timed_events(&os.cluster)
        .into_iter()
        .find(|(at, m, what)| *at >= since && m == machine && what == "off")
        .map(|(at, ..)| at)
}

impl<'a> Soak<'a> {
    /// Segments, instances (HA_Enabled), the watcher's first view.
    pub fn prepare(os: &'a OpenStack, plan: Plan) -> Soak<'a> {
        for (name, method, hosts, reserved) in SEGMENTS {
            let hosts: Vec<&str> = hosts.iter().map(|&i| ALL_COMPUTES[i].host).collect();
            os.create_segment_of(name, method, &hosts, reserved.map(|i| ALL_COMPUTES[i].host));
        }
        let mut host_uuids = BTreeMap::new();
        for (segment, ..) in SEGMENTS {
            let table = os.table(&[
                "segment", "host", "list", "-c", "uuid", "-c", "name", segment,
            ]);
            for row in table.rows {
                if let [uuid, name] = &row[..] {
                    host_uuids.insert(uuid.clone(), name.clone());
                }
            }
        }
        let servers: Vec<Server> = std::thread::scope(|s| {
            let boots: Vec<_> = SERVERS
                .iter()
                .map(|&(name, host)| {
                    s.spawn(move || {
                        let id = os.boot_server(name, ALL_COMPUTES[host].host);
                        os.openstack(&["server", "set", "--property", "HA_Enabled=True", name])
                            .expect_ok();
                        Server {
                            name,
                            id,
                            instance: os.instance_name(name),
                        }
                    })
                })
                .collect();
            boots
                .into_iter()
                .map(|b| b.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let hosts = os
            .computes()
            .iter()
            .map(|c| (c.host, HostState::Up))
            .collect();
        Soak {
            os,
            plan,
            watcher: Watcher::new(format!("{}/openstack/instances/", os.state_dir().display())),
            servers,
            hosts: Mutex::new(hosts),
            host_uuids,
            episodes: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            guest_lane_host: Mutex::new(None),
            up_since: Mutex::new(os.computes().iter().map(|c| (c.host, now())).collect()),
            last_host_fault: Mutex::new(None),
            started: now(),
        }
    }

    fn violation(&self, invariant: u8, what: String) {
        eprintln!("soak: VIOLATION {invariant}: {what}");
        self.violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Violation {
                at: now(),
                invariant,
                what,
            });
    }

    /// Every breach so far: the watcher's and the episodes'.
    pub fn violations(&self) -> Vec<Violation> {
        let mut all = self.watcher.seen().violations.clone();
        all.extend(
            self.violations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        all.sort_by(|a, b| a.at.total_cmp(&b.at));
        all
    }

    fn set_host(&self, host: &str, state: HostState) {
        if let Some(s) = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(host)
        {
            *s = state;
        }
    }

    /// The hosts of the segments whose every host is up.
    fn hosts_of_whole_segments(&self) -> Vec<&'static str> {
        let up = self.hosts_in(HostState::Up);
        up.iter()
            .copied()
            .filter(|h| {
                let segment = segment_of(h);
                self.os
                    .computes()
                    .iter()
                    .filter(|c| segment_of(c.host) == segment)
                    .all(|c| up.contains(&c.host))
            })
            .collect()
    }

    /// `hosts` but the guest lane's.
    fn free(&self, hosts: Vec<&'static str>) -> Vec<&'static str> {
        let lane = lock(&self.guest_lane_host).clone();
        hosts
            .into_iter()
            .filter(|h| lane.as_deref() != Some(*h))
            .collect()
    }

    fn hosts_in(&self, state: HostState) -> Vec<&'static str> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, s)| **s == state)
            .map(|(h, _)| *h)
            .collect()
    }

    /// (status, host) of every soak server, from one `server list`; asked again while a
    /// server is missing from it (a client that failed, an API restarting) for up to a minute:
    /// past that a server is lost (invariant 4 judges it).
    pub fn server_states(&self) -> BTreeMap<String, (String, String)> {
        let start = Instant::now();
        loop {
            let states = self.server_list();
            if self.servers.iter().all(|s| states.contains_key(s.name))
                || start.elapsed() > Duration::from_secs(60)
            {
                return states;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// (status, host) by server name: nova's API asked directly (see `oxha_openstack_env`'s
    /// `api`), the `openstack` client when that cannot answer.
    fn server_list(&self) -> BTreeMap<String, (String, String)> {
        if let Some(rows) = self.os.api_servers() {
            return rows
                .into_iter()
                .map(|r| (r.name, (r.status, r.host)))
                .collect();
        }
        let r = self.os.openstack(&[
            "server", "list", "--long", "-f", "value", "-c", "Name", "-c", "Status", "-c", "Host",
        ]);
        // -f value keeps the listing's column order: Name, Status, then the host (named by
        // two columns of --long, so it may come twice; empty while nova has none).
        r.stdout
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                match w[..] {
                    [name, status, host, ..] => {
                        Some((name.to_string(), (status.into(), host.into())))
                    }
                    [name, status] => Some((name.to_string(), (status.into(), String::new()))),
                    _ => None,
                }
            })
            .collect()
    }

    /// Masakari's notifications: its API asked directly, the client when that cannot answer.
    fn notifications(&self) -> Vec<oxha_openstack_env::Notification> {
        self.os
            .api_notifications()
            .unwrap_or_else(|| self.os.notifications())
    }

    /// When nova received the last `action` for `server`.
    fn server_action_at(&self, server: &Server, action: &str) -> Option<f64> {
        match self.os.api_server_action_at(&server.id, action) {
            Some(at) => at,
            None => self.os.server_action_at(server.name, action),
        }
    }

    fn progress(&self, faults: usize) {
        let episodes = self.episodes.lock().unwrap_or_else(|p| p.into_inner());
        let recovered = episodes.iter().filter(|e| e.recovered.is_some()).count();
        drop(episodes);
        eprintln!(
            "soak: {:>6.0}s  faults {faults}  recovered {recovered}  violations {}  hosts down {:?} reinserting {:?}",
            now() - self.started,
            self.violations().len(),
            self.hosts_in(HostState::Down),
            self.hosts_in(HostState::Reinserting),
        );
    }

    /// Runs the schedule, then waits for every reinsert and checks the end state.
    pub fn run(&self) {
        let kinds: Vec<FaultKind> = crate::schedule::ALL_KINDS
            .into_iter()
            .filter(|k| !self.plan.leave_out.contains(k))
            .collect();
        let mut schedule = Schedule::of(self.plan.seed, &kinds);
        let deadline = Instant::now() + Duration::from_secs_f64(self.plan.minutes * 60.0);
        // Past this the soak stops even with kinds owed (a broken host would otherwise keep it
        // waiting for ever).
        let hard_stop =
            Instant::now() + Duration::from_secs_f64(self.plan.minutes * 60.0 * 2.0 + 1800.0);
        let mut faults = 0;
        // The watcher stops however the scope ends: a panic of this thread (a harness command
        // that failed) would otherwise leave the scope waiting for it for ever.
        struct StopWatcher<'w>(&'w crate::watch::Watcher);
        impl Drop for StopWatcher<'_> {
            fn drop(&mut self) {
                self.0.stop();
            }
        }
        std::thread::scope(|s| {
            s.spawn(|| self.watcher.run());
            s.spawn(|| self.pacemaker_view(s));
            let _stop = StopWatcher(&self.watcher);
            let mut reinserts = Vec::new();
            // The guest lane: one guest fault at a time, beside the host faults (which the
            // loop follows itself, one at a time).
            let mut guest_lane: Option<std::thread::ScopedJoinHandle<'_, ()>> = None;
            while (Instant::now() < deadline || !schedule.first_round_done())
                && Instant::now() < hard_stop
            {
                if guest_lane.as_ref().is_some_and(|h| h.is_finished()) {
                    guest_lane.take().map(join);
                }
                let lane_free = guest_lane.is_none();
                // A host fault only on a host whose segment is whole (every host of it up):
                // one host down and another of its segment reinserting (its nova-compute not
                // yet counted, or the reserved one disabled) can leave the segment's instances
                // nowhere to go (NoValidHost: ERROR), a capacity question the soak does not
                // ask. A fault on its victim alone may come while the other segment
                // reinserts or the guest lane crashes a guest elsewhere; the others wait for
                // every host and for the guest lane (during-reinsert overlaps on purpose,
                // once).
                let all_up = self.hosts_in(HostState::Up).len() == self.os.computes().len();
                let whole = !self.free(self.hosts_of_whole_segments()).is_empty();
                let next = schedule.next_kind(|k| {
                    if !k.fails_hosts() {
                        lane_free
                    } else if k.overlaps_reinserts() {
                        whole
                    } else {
                        all_up && lane_free
                    }
                });
                let kind = match next {
                    Some(kind) => kind,
                    // A long soak crashes guests while its host faults wait for hosts.
                    None if lane_free && self.plan.minutes > 0.0 => schedule.filler(),
                    None => {
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                // Two hosts: both victims from different segments, with every other host up.
                // The DC: the harness's cluster commands (a reinsert's among them) go through
                // node1, which may be the DC that dies.
                let needs_all = matches!(kind, FaultKind::TwoHosts | FaultKind::DcKill);
                if needs_all {
                    for r in reinserts.drain(..) {
                        join(r);
                    }
                }
                if !kind.fails_hosts() {
                    let Some(server) = self.guest_to_crash(&mut schedule) else {
                        // Every guest on a host that is down or being reinserted: later.
                        if next.is_some() {
                            schedule.give_back(kind);
                        }
                        std::thread::sleep(Duration::from_secs(3));
                        continue;
                    };
                    faults += 1;
                    eprintln!("soak: fault {faults}: {kind} of {}", server.name);
                    guest_lane = Some(s.spawn(move || {
                        self.guest_crash(kind, server);
                        *lock(&self.guest_lane_host) = None;
                    }));
                } else {
                    faults += 1;
                    eprintln!("soak: fault {faults}: {kind}");
                    *lock(&self.last_host_fault) = Some((kind, now()));
                    let failed = self.inject(kind, &mut schedule);
                    for host in failed {
                        reinserts.push(s.spawn(move || self.reinsert(compute_of(host))));
                    }
                }
                self.progress(faults);
                let gap = schedule.gap_secs();
                std::thread::sleep(Duration::from_secs(gap));
            }
            if let Some(lane) = guest_lane {
                join(lane);
            }
            for r in reinserts {
                join(r);
            }
            // A collateral fencing's recovery and reinsert run in threads of their own.
            let every_host = wait_for_opt(RECOVERY_BOUND * 3, || {
                (self.hosts_in(HostState::Up).len() == self.os.computes().len()).then_some(())
            });
            if every_host.is_none() {
                eprintln!(
                    "soak: hosts still down or reinserting at the end: {:?} {:?}",
                    self.hosts_in(HostState::Down),
                    self.hosts_in(HostState::Reinserting)
                );
            }
            self.final_checks();
            self.watcher.stop();
        });
        self.progress(faults);
    }

    /// Pacemaker's view of the compute hosts, every 5 s while the soak runs: a host the soak
    /// holds up (no fault on it, its reinsert over) that Pacemaker has seen offline for 20 s is
    /// logged, once, with the network as the nodes see it. (The first 60-minute soak met one,
    /// unreachable two minutes before a fault struck it, and its logs went with the cloud.) 20
    /// s: a connection whose cluster node died is restarted on another within seconds.
    fn pacemaker_view<'s>(&'s self, scope: &'s std::thread::Scope<'s, '_>) {
        const GRACE: f64 = 20.0;
        // Host → when first seen offline, and whether it was logged.
        let mut offline: BTreeMap<&'static str, (f64, bool)> = BTreeMap::new();
        while !self.watcher.stopped() {
            let wake = Instant::now() + Duration::from_secs(5);
            while Instant::now() < wake && !self.watcher.stopped() {
                std::thread::sleep(Duration::from_millis(250));
            }
            self.collateral_fencings(scope);
            let Some(observer) = FULL_NODES
                .iter()
                .copied()
                .find(|n| self.os.cluster.running(n))
            else {
                continue;
            };
            let Some(status) = self.os.cluster.status(observer) else {
                continue;
            };
            let up = self.hosts_in(HostState::Up);
            offline.retain(|h, _| up.contains(h));
            for host in up {
                let node = compute_of(host).node;
                if status.node(node).is_some_and(|n| n.online) {
                    offline.remove(host);
                    continue;
                }
                let (since, logged) = offline.entry(host).or_insert((now(), false));
                if !*logged
                    && now() - *since >= GRACE
                    && self.hosts_in(HostState::Up).contains(&host)
                {
                    *logged = true;
                    eprintln!(
                        "soak: NOTE {:.3}: {host} is up, no fault on it, but Pacemaker ({observer}) has seen {node} offline since {:.3}; the network:\n{}",
                        now(),
                        *since,
                        crate::evidence::network_snapshot(self.os, node)
                    );
                }
            }
        }
    }

    /// A host the soak holds up that MAAS recorded powered off: the cluster fenced it though no
    /// fault touched it (Pacemaker fences a remote node whose connection it could not recover,
    /// after the cluster node holding the connection died). Its recovery is followed as a host
    /// fault's is, invariants included, in a thread of its own, and the host reinserted.
    fn collateral_fencings<'s>(&'s self, scope: &'s std::thread::Scope<'s, '_>) {
        let since = lock(&self.up_since).clone();
        for host in self.hosts_in(HostState::Up) {
            let Some(&up_at) = since.get(host) else {
                continue;
            };
            let Some(off_at) = maas_off_at(self.os, compute_of(host).node, up_at) else {
                continue;
            };
            if !self.hosts_in(HostState::Up).contains(&host) {
                continue; // a fault took it meanwhile: that fault follows it
            }
            // Where the soak's servers were before the evacuation: nova still names the host
            // until it is evacuated, which takes seconds after the fencing.
            let states = self.server_states();
            self.set_host(host, HostState::Down);
            let cause = *lock(&self.last_host_fault);
            eprintln!(
                "soak: {host} was fenced at {off_at:.3} with no fault on it (the last host fault: {})",
                cause.map_or("none".to_string(), |(k, at)| format!("{k} at {at:.3}"))
            );
            scope.spawn(move || {
                let affected: Vec<&Server> = self
                    .servers
                    .iter()
                    .filter(|s| states.get(s.name).is_some_and(|(_, h)| h == host))
                    .collect();
                let kind = cause.map_or(FaultKind::PowerLoss, |(k, _)| k);
                let mut ep = Episode::new(kind, host.to_string());
                ep.collateral = true;
                // It starts when Pacemaker decided to fence it.
                let decided = self.fencing_decided(compute_of(host).node, up_at);
                ep.fault_at = decided.unwrap_or(off_at).min(off_at);
                ep.detected = decided.map(|_| 0.0);
                ep.fenced = Some(off_at - ep.fault_at);
                ep.note = "collateral: fenced by the cluster, no fault on it".into();
                let active = self.wait_active(&affected, off_at);
                ep.recovered = active.map(|at| at - off_at);
                let off = BTreeMap::from([(host, off_at)]);
                self.wait_fencing_done(host, ep.fault_at);
                self.check_fencing_order(&mut ep, &[host], &affected, &off, off_at);
                self.push(ep);
                self.reinsert(compute_of(host));
            });
        }
    }

    /// A host for a host fault, among `from`: one that runs soak instances when there is one
    /// (nova's scheduler may pack them onto few hosts; a fault on an empty host proves little).
    fn victim(&self, schedule: &mut Schedule, from: &[&'static str]) -> Option<&'static str> {
        let states = self.server_states();
        let loaded: Vec<&'static str> = from
            .iter()
            .copied()
            .filter(|h| states.values().any(|(_, on)| on == h))
            .collect();
        let pool = if loaded.is_empty() { from } else { &loaded[..] };
        schedule.pick(pool).copied()
    }

    /// Injects one fault and follows its recovery; returns the hosts to reinsert.
    fn inject(&self, kind: FaultKind, schedule: &mut Schedule) -> Vec<&'static str> {
        let up = self.free(self.hosts_in(HostState::Up));
        match kind {
            FaultKind::GuestCrash | FaultKind::GuestCrashTwice => {
                unreachable!("guest faults go to the guest lane")
            }
            FaultKind::TwoHosts => {
                let a = self.victim(schedule, &up).unwrap_or(up[0]);
                let others: Vec<&str> = up
                    .iter()
                    .copied()
                    .filter(|h| segment_of(h) != segment_of(a))
                    .collect();
                let Some(b) = self.victim(schedule, &others) else {
                    return self.host_fault(kind, &[a], schedule);
                };
                self.host_fault(kind, &[a, b], schedule)
            }
            FaultKind::DuringReinsert => {
                // A host fails, and the next one while the first is reinserted.
                let a = self.victim(schedule, &up).unwrap_or(up[0]);
                let mut failed = self.host_fault(FaultKind::PowerLoss, &[a], schedule);
                for &h in &failed {
                    self.set_host(h, HostState::Reinserting);
                }
                let first = failed.clone();
                let again: Vec<&str> = self
                    .hosts_in(HostState::Up)
                    .into_iter()
                    .filter(|h| !first.contains(h))
                    .collect();
                std::thread::scope(|s| {
                    let r = s.spawn(|| {
                        for &h in &first {
                            self.reinsert(compute_of(h));
                        }
                    });
                    // The reinsert is under way (booting the node takes seconds).
                    std::thread::sleep(Duration::from_secs(2));
                    if let Some(b) = self.victim(schedule, &again) {
                        failed = self.host_fault(kind, &[b], schedule);
                    } else {
                        failed = Vec::new();
                    }
                    join(r);
                });
                failed
            }
            _ => {
                let pool = if kind.overlaps_reinserts() {
                    self.free(self.hosts_of_whole_segments())
                } else {
                    up
                };
                let Some(victim) = self.victim(schedule, &pool) else {
                    eprintln!("soak: no host for {kind}; skipped");
                    return Vec::new();
                };
                self.host_fault(kind, &[victim], schedule)
            }
        }
    }

    /// The guests a guest fault may crash: ACTIVE on a host that is up.
    fn crash_candidates(&self, states: &BTreeMap<String, (String, String)>) -> Vec<&Server> {
        let up = self.hosts_in(HostState::Up);
        self.servers
            .iter()
            .filter(|s| {
                states
                    .get(s.name)
                    .is_some_and(|(st, h)| st == "ACTIVE" && up.contains(&h.as_str()))
            })
            .collect()
    }

    /// The guest the guest lane crashes next, its host taken for the lane (see
    /// [`Soak::free`]); None while no guest is ACTIVE on an up host.
    fn guest_to_crash(&self, schedule: &mut Schedule) -> Option<&Server> {
        let states = self.server_states();
        let candidates = self.crash_candidates(&states);
        let server = schedule.pick(&candidates).copied()?;
        *lock(&self.guest_lane_host) = states.get(server.name).map(|(_, h)| h.clone());
        Some(server)
    }

    fn guest_crash(&self, kind: FaultKind, server: &Server) {
        let crashes = if kind == FaultKind::GuestCrashTwice {
            2
        } else {
            1
        };
        let mut ep = Episode::new(kind, server.name.to_string());
        let mut since = now();
        for round in 0..crashes {
            let pids = crate::watch::qemu_by_instance(&self.watcher.scope)
                .remove(&server.instance)
                .unwrap_or_default();
            let [pid] = pids[..] else {
                self.violation(
                    4,
                    format!(
                        "{} has {} qemu processes before its crash",
                        server.name,
                        pids.len()
                    ),
                );
                return;
            };
            let at = now();
            if round == 0 {
                ep.fault_at = at;
            }
            let killed = kill9(pid);
            if !killed {
                eprintln!(
                    "soak: qemu {pid} of {} was gone before the kill",
                    server.name
                );
            }
            since = at;
            let new = self.wait_new_qemu(server, at);
            match new {
                Some(new_at) => ep.detected.get_or_insert(new_at - at),
                None => {
                    self.violation(
                        4,
                        format!(
                            "{} (crashed at {at:.1}) got no new qemu within {}s",
                            server.name,
                            RECOVERY_BOUND.as_secs()
                        ),
                    );
                    self.repair(&[server]);
                    self.push(ep);
                    return;
                }
            };
        }
        let active = self.wait_active(&[server], since);
        if let Some(at) = active {
            ep.recovered = Some(at - ep.fault_at);
        }
        // Its VM notification(s), one per crash the restart followed.
        let vm: Vec<f64> = self
            .notifications()
            .into_iter()
            .filter(|n| n.kind == "VM" && n.payload.contains(&server.id))
            .filter(|n| n.generated_at >= ep.fault_at - 1.0)
            .map(|n| n.generated_at - ep.fault_at)
            .collect();
        ep.notified_at = vm.iter().copied().reduce(f64::min);
        let vm = vm.len();
        if vm == 0 {
            self.violation(
                4,
                format!("the crash of {} got no VM notification", server.name),
            );
        }
        ep.notified = Some(vm as f64);
        self.push(ep);
    }

    fn wait_new_qemu(&self, server: &Server, since: f64) -> Option<f64> {
        let start = Instant::now();
        while start.elapsed() < RECOVERY_BOUND {
            if let Some((_, at)) = self.watcher.new_pids(&server.instance, since).first() {
                return Some(*at);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        None
    }

    /// Waits until every server is ACTIVE (on an up host, for a host fault); when, or None
    /// past [`RECOVERY_BOUND`] (a violation of invariant 4).
    fn wait_active(&self, servers: &[&Server], cleared: f64) -> Option<f64> {
        let start = Instant::now();
        loop {
            let states = self.server_states();
            let down = self.hosts_in(HostState::Down);
            let pending: Vec<String> = servers
                .iter()
                .filter_map(|s| match states.get(s.name) {
                    Some((st, h)) if st == "ACTIVE" && !down.contains(&h.as_str()) => None,
                    Some((st, h)) => Some(format!("{} {st} on {h}", s.name)),
                    None => Some(format!("{} missing", s.name)),
                })
                .collect();
            if pending.is_empty() {
                return Some(now());
            }
            if now() - cleared > RECOVERY_BOUND.as_secs_f64()
                || start.elapsed() > RECOVERY_BOUND * 2
            {
                self.violation(
                    4,
                    format!(
                        "not ACTIVE {}s after the fault cleared: {}",
                        RECOVERY_BOUND.as_secs(),
                        pending.join(", ")
                    ),
                );
                self.repair(servers);
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// After a violation of invariant 4 has been recorded: what an operator does, so that the
    /// rest of the soak tests a whole cloud rather than meeting the same broken instance again
    /// (each later fault on its host would wait out the bound for it). An instance left in
    /// ERROR is reset to active and hard-rebooted; one left SHUTOFF is started. Only on a host
    /// that is up: a host that is down still owes its evacuation.
    fn repair(&self, servers: &[&Server]) {
        let states = self.server_states();
        let up = self.hosts_in(HostState::Up);
        for server in servers {
            let Some((status, host)) = states.get(server.name) else {
                continue;
            };
            if !up.contains(&host.as_str()) {
                continue;
            }
            let steps: &[&[&str]] = match status.as_str() {
                "ERROR" => &[
                    &["server", "set", "--state", "active", server.name],
                    &["server", "reboot", "--hard", server.name],
                ],
                "SHUTOFF" => &[&["server", "start", server.name]],
                _ => continue,
            };
            for step in steps {
                let r = self.os.openstack(step);
                if !r.ok() {
                    eprintln!(
                        "soak: repair of {}: {} failed: {}",
                        server.name,
                        r.command,
                        r.stderr.trim()
                    );
                }
            }
            eprintln!(
                "soak: {} was {status} on {host}: repaired as an operator would",
                server.name
            );
        }
    }

    fn push(&self, ep: Episode) {
        eprintln!("soak: {}", ep.line());
        self.episodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ep);
    }

    /// The DC (Designated Controller) as a surviving full node sees it.
    fn dc(&self) -> Option<String> {
        for node in FULL_NODES {
            if !self.os.cluster.running(node) {
                continue;
            }
            let r = self.os.cluster.run(node, &["crmadmin", "-D", "-t", "5000"]);
            if let Some(dc) = r.stdout.split_whitespace().last() {
                if FULL_NODES.contains(&dc) {
                    return Some(dc.to_string());
                }
            }
        }
        None
    }

    /// A fault that takes `victims` down; follows fencing, notification and evacuation, checks
    /// invariants 2-4 for it. Returns the hosts to reinsert.
    fn host_fault(
        &self,
        kind: FaultKind,
        victims: &[&'static str],
        schedule: &mut Schedule,
    ) -> Vec<&'static str> {
        let states = self.server_states();
        let affected: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| {
                states
                    .get(s.name)
                    .is_some_and(|(_, h)| victims.contains(&h.as_str()))
            })
            .collect();
        let mut ep = Episode::new(kind, victims.join("+"));
        for &v in victims {
            self.set_host(v, HostState::Down);
        }
        let os = self.os;
        let t0 = now();
        ep.fault_at = t0;
        let mut cleared = t0;
        let mut maas_clear: Option<(f64, &'static str)> = None;
        let mut dc_killed: Option<String> = None;
        match kind {
            FaultKind::Partition => os.cluster.partition(compute_of(victims[0]).node),
            FaultKind::RemotedKill => {
                os.cluster
                    .run(
                        compute_of(victims[0]).node,
                        // "[p]": the pattern must not match the command line that carries
                        // it (nsenter's, which pkill sees and would kill).
                        &["pkill", "-KILL", "-f", "[p]acemaker-remoted"],
                    )
                    .expect_ok();
            }
            FaultKind::TwoHosts => {
                os.kill_compute(compute_of(victims[0]).node);
                if let Some(&b) = victims.get(1) {
                    std::thread::sleep(Duration::from_millis(schedule.second_host_delay_ms()));
                    os.kill_compute(compute_of(b).node);
                }
            }
            FaultKind::MaasTrouble => {
                let (trouble, secs) = schedule.maas_trouble();
                let node = compute_of(victims[0]).node;
                set_maas_fault(os, node, trouble.sim_fault());
                ep.note = format!("MAAS {} for {secs}s", trouble.sim_fault());
                os.kill_compute(node);
                maas_clear = Some((t0 + secs as f64, node));
                cleared = t0 + secs as f64;
            }
            FaultKind::DcKill => {
                let node = compute_of(victims[0]).node;
                // MAAS slow (5 s an answer) so the fencing is still in flight when the DC dies.
                set_maas_fault(os, node, "slow");
                os.kill_compute(node);
                // In flight: fence_maas's first request answered (the simulator logs a request
                // once answered, 5 s late here; a fencing makes several).
                let asked = wait_for_opt(Duration::from_secs(60), || {
                    let r = os.cluster.maas_ctl("GET", "/_sim/requests?time=1", None);
                    r.stdout
                        .lines()
                        .filter_map(|l| l.split_once(' '))
                        .any(|(at, rest)| {
                            at.parse::<f64>().is_ok_and(|at| at >= t0)
                                && rest.contains("/machines/")
                        })
                        .then_some(())
                });
                if asked.is_none() {
                    eprintln!("soak: no MAAS request for {node} within 60 s of its power loss");
                }
                if asked.is_some() {
                    if let Some(dc) = self.dc() {
                        eprintln!("soak: fencing of {node} in flight: killing the DC {dc}");
                        os.cluster.kill(&dc);
                        ep.note = format!("DC {dc} killed mid-fencing");
                        dc_killed = Some(dc);
                    }
                }
                maas_clear = Some((now() + 20.0, node));
            }
            FaultKind::ServiceRestart | FaultKind::PowerLoss | FaultKind::DuringReinsert => {
                os.kill_compute(compute_of(victims[0]).node);
            }
            FaultKind::GuestCrash | FaultKind::GuestCrashTwice => unreachable!("not a host fault"),
        }

        // Fencing: MAAS records each victim off.
        let mut off: BTreeMap<&str, f64> = BTreeMap::new();
        let fence_bound = RECOVERY_BOUND.as_secs_f64() + (cleared - t0);
        let mut service_restarted = kind != FaultKind::ServiceRestart;
        loop {
            if let Some((at, node)) = maas_clear {
                if now() >= at {
                    set_maas_fault(os, node, "");
                    maas_clear = None;
                }
            }
            for &v in victims {
                if !off.contains_key(v) {
                    if let Some(at) = maas_off_at(os, compute_of(v).node, t0) {
                        off.insert(v, at);
                    }
                }
            }
            if !service_restarted && !off.is_empty() {
                // During the recovery: after the fencing, before the evacuation.
                let service = schedule.service();
                ep.note = format!("{service} restarted");
                eprintln!(
                    "soak: restarting {service} during the recovery of {}",
                    victims[0]
                );
                os.restart_service(service);
                service_restarted = true;
            }
            if off.len() == victims.len() && maas_clear.is_none() {
                break;
            }
            if now() - t0 > fence_bound {
                self.violation(
                    4,
                    format!(
                        "{} not fenced {:.0}s after {kind} (MAAS off for {:?})",
                        victims.join("+"),
                        now() - t0,
                        off.keys().collect::<Vec<_>>()
                    ),
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if let Some((_, node)) = maas_clear {
            set_maas_fault(os, node, "");
        }
        ep.fenced = off.values().copied().reduce(f64::max).map(|at| at - t0);
        ep.detected = self
            .fencing_decided(compute_of(victims[0]).node, t0)
            .map(|at| at - t0);

        let active = self.wait_active(&affected, cleared);
        ep.recovered = active.map(|at| at - cleared.max(t0));

        if let Some(dc) = &dc_killed {
            // The killed DC comes back before anything needs a cluster command.
            os.cluster.boot(dc);
            let observer = FULL_NODES
                .iter()
                .find(|n| *n != dc)
                .copied()
                .unwrap_or("node2");
            os.cluster.wait_node(
                observer,
                dc,
                "online again",
                Duration::from_secs(120),
                |s| s.online,
            );
        }

        for v in off.keys() {
            self.wait_fencing_done(v, t0);
        }
        self.check_fencing_order(&mut ep, victims, &affected, &off, t0);
        self.push(ep);
        victims.to_vec()
    }

    /// Invariants 2 and 3 for one episode: every evacuation from a victim after MAAS recorded
    /// it off; one COMPUTE_HOST notification per fenced victim, none before its power-off, none
    /// for a host that was not fenced.
    fn check_fencing_order(
        &self,
        ep: &mut Episode,
        victims: &[&str],
        affected: &[&Server],
        off: &BTreeMap<&str, f64>,
        t0: f64,
    ) {
        for server in affected {
            if let Some(evacuated) = self.server_action_at(server, "evacuate") {
                if evacuated < t0 {
                    continue;
                }
                let from_off = victims
                    .iter()
                    .filter_map(|v| off.get(v))
                    .copied()
                    .reduce(f64::min);
                match from_off {
                    Some(off_at) if evacuated >= off_at => {}
                    Some(off_at) => self.violation(
                        2,
                        format!(
                            "{} evacuated at {evacuated:.3}, {:.3}s before MAAS recorded its host off",
                            server.name,
                            off_at - evacuated
                        ),
                    ),
                    None => self.violation(
                        2,
                        format!("{} evacuated with its host never recorded off by MAAS", server.name),
                    ),
                }
            }
        }
        let notifications: Vec<_> = self
            .notifications()
            .into_iter()
            .filter(|n| n.kind == "COMPUTE_HOST" && n.generated_at >= t0 - 1.0)
            .collect();
        let mut counted = 0;
        for n in &notifications {
            let host = self
                .host_uuids
                .get(&n.source_host_uuid)
                .cloned()
                .unwrap_or_else(|| n.source_host_uuid.clone());
            let Some(victim) = victims.iter().find(|v| **v == host) else {
                // Another episode's (an overlapping fault): judged there.
                continue;
            };
            counted += 1;
            match off.get(victim) {
                // generated_time is kept to the second: a notification stamped in the second
                // of the power-off may read up to 1 s early.
                Some(off_at) if n.generated_at >= off_at.floor() => {}
                Some(off_at) => self.violation(
                    3,
                    format!("COMPUTE_HOST for {host} generated at {:.0}, before MAAS recorded it off at {off_at:.3}", n.generated_at),
                ),
                None => self.violation(3, format!("COMPUTE_HOST for {host}, which MAAS never recorded off")),
            }
        }
        for &v in victims {
            let n = notifications
                .iter()
                .filter(|n| self.host_uuids.get(&n.source_host_uuid).map(String::as_str) == Some(v))
                .count();
            if off.contains_key(v) && n != 1 {
                self.violation(
                    3,
                    format!("{n} COMPUTE_HOST notifications for one fencing of {v}"),
                );
            }
        }
        ep.notified = Some(counted as f64);
        ep.notified_at = notifications
            .iter()
            .filter(|n| {
                self.host_uuids
                    .get(&n.source_host_uuid)
                    .is_some_and(|h| victims.contains(&h.as_str()))
            })
            .map(|n| n.generated_at - t0)
            .reduce(f64::min);
    }

    /// Waits until Pacemaker's fencing of `host` since `since` has completed (its fencers'
    /// history): MAAS records the power-off while fence_maas is still confirming it, and
    /// fence_masakari runs after that. Judging the notifications, or booting the host for its
    /// reinsert, before then races the fencing: a host booted while fence_maas confirms reads
    /// ON again, fence_maas refuses the flapping state and the fencing powers it off a second
    /// time (the soak met it). A fencing that never completes is a violation of invariant 3.
    fn wait_fencing_done(&self, host: &str, since: f64) {
        let node = compute_of(host).node;
        let done = wait_for_opt(Duration::from_secs(90), || {
            oxha_multinode::storm::fence_history(&self.os.cluster)
                .into_iter()
                // The history keeps whole seconds.
                .any(|e| e.target == node && e.succeeded && e.completed >= since.floor())
                .then_some(())
        });
        if done.is_none() {
            self.violation(
                3,
                format!("MAAS recorded {host} off, but Pacemaker's fencing of it did not complete within 90 s"),
            );
        }
    }

    /// When Pacemaker decided to fence `node` after `since` ("will be fenced" in the
    /// scheduler's log on whichever full node was the DC).
    fn fencing_decided(&self, node: &str, since: f64) -> Option<f64> {
        let offset = oxha_multinode::storm::utc_offset();
        let needle = format!("Remote node {node} will be fenced");
        FULL_NODES
            .iter()
            .flat_map(|full| self.os.cluster.log_lines(full, &[&needle]))
            .filter_map(|l| oxha_multinode::storm::log_time(&l, since, offset))
            .filter(|at| *at >= since)
            .reduce(f64::min)
    }

    /// The walkthrough's reinsert: the host boots (MAAS powers it on), Pacemaker reconnects it,
    /// libvirtd and nova-compute start and heartbeat; then nova enables it (or, in the
    /// rh_priority segment when no reserved host is left, it becomes the reserved one: marked
    /// reserved in Masakari, disabled in nova) and Masakari takes it out of maintenance.
    fn reinsert(&self, c: Compute) {
        self.set_host(c.host, HostState::Reinserting);
        let done =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.reinsert_steps(c)));
        match done {
            Ok(()) => {
                lock(&self.up_since).insert(c.host, now());
                self.set_host(c.host, HostState::Up);
                eprintln!("soak: {} reinserted", c.host);
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("?");
                // The cloud is a host short from now on; the soak goes on without it.
                self.set_host(c.host, HostState::Down);
                self.violation(4, format!("the reinsert of {} failed: {why}", c.host));
            }
        }
    }

    /// A Masakari host update, as the operator makes it: Masakari refuses every update of a
    /// segment's hosts while any host of the segment has a notification `new`, `running` or
    /// `error` (409 "in-use to process notifications"), so it is asked again until the segment's
    /// recoveries are over, for up to [`RECOVERY_BOUND`].
    #[track_caller]
    fn masakari_host_update(&self, argv: &[&str]) {
        let start = Instant::now();
        loop {
            let r = self.os.openstack(argv);
            if r.ok() {
                return;
            }
            if !r.stderr.contains("in-use to process notifications")
                || start.elapsed() > RECOVERY_BOUND
            {
                // Any other refusal, or the segment busy for too long: the reinsert failed.
                r.expect_ok();
                return;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn reinsert_steps(&self, c: Compute) {
        let os = self.os;
        os.boot_compute(c);
        if self.plan.stack == crate::Stack::Charms {
            crate::charms::start_monitors(os, c);
        }
        if os.forced_down(c.host) == Some(true) {
            // fence_masakari forced it down (the fast path): the walkthrough's `set --up`.
            os.clear_forced_down(c.host);
        }
        let segment = segment_of(c.host);
        let table = os.table(&[
            "segment", "host", "list", "-c", "name", "-c", "reserved", segment,
        ]);
        let reserved: Vec<String> = table
            .rows
            .iter()
            .filter(|r| r.get(1).is_some_and(|v| v == "True"))
            .filter_map(|r| r.first().cloned())
            .collect();
        let is_rh = SEGMENTS
            .iter()
            .any(|(name, _, _, r)| *name == segment && r.is_some());
        if is_rh && (reserved.is_empty() || reserved.iter().any(|h| h == c.host)) {
            self.masakari_host_update(&[
                "segment",
                "host",
                "update",
                "--reserved",
                "True",
                segment,
                c.host,
            ]);
            os.openstack(&[
                "compute",
                "service",
                "set",
                "--disable",
                c.host,
                "nova-compute",
            ])
            .expect_ok();
        } else {
            os.openstack(&[
                "compute",
                "service",
                "set",
                "--enable",
                c.host,
                "nova-compute",
            ])
            .expect_ok();
        }
        self.masakari_host_update(&[
            "segment",
            "host",
            "update",
            "--on_maintenance=False",
            segment,
            c.host,
        ]);
    }

    /// The end: every instance ACTIVE, none ERROR or lost, one qemu each; no node UNCLEAN; no
    /// agent panicked or aborted.
    fn final_checks(&self) {
        let states = self.server_states();
        for s in &self.servers {
            match states.get(s.name) {
                Some((st, _)) if st == "ACTIVE" => {}
                Some((st, h)) => self.violation(4, format!("{} ends {st} on {h}", s.name)),
                None => self.violation(4, format!("{} is gone at the end", s.name)),
            }
        }
        let qemus = crate::watch::qemu_by_instance(&self.watcher.scope);
        for s in &self.servers {
            let n = qemus.get(&s.instance).map_or(0, Vec::len);
            if n != 1 {
                self.violation(
                    if n > 1 { 1 } else { 4 },
                    format!("{} ends with {n} qemu processes", s.name),
                );
            }
        }
        let observer = FULL_NODES
            .iter()
            .copied()
            .find(|n| self.os.cluster.running(n))
            .unwrap_or("node1");
        if let Some(status) = self.os.cluster.status(observer) {
            for n in status.nodes.iter().filter(|n| n.unclean) {
                self.violation(5, format!("node {} is UNCLEAN at the end", n.name));
            }
        }
        let panics = self
            .os
            .cluster
            .log_lines(observer, &["panicked at", "SIGABRT", "core dumped"]);
        for line in panics {
            self.violation(5, format!("agent panic or abort: {line}"));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn wait_for_opt<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = probe() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

/// SIGKILL to `pid` (a guest's qemu: a crash); false if it was gone.
fn kill9(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
