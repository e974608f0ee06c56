//! The machines: what MAAS stores about one and how it renders it (api/examples/nodes.json),
//! and generated fleets for benchmarks.

use serde::{Deserialize, Serialize};

/// One machine, as the control endpoints read and patch it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimMachine {
    pub system_id: String,
    pub hostname: String,
    pub domain: String,
    pub status_name: String,
    pub power_state: String,
    pub power_type: String,
    pub locked: bool,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    pub zone: String,
    pub pool: String,
    pub ip_addresses: Vec<String>,
    /// "", "503", "no_rack", "504", "500", "hang", "slow", "stuck_on", "flapping", "unknown",
    /// "error".
    pub fault: String,
    /// Delay before a power change takes effect (default: --power-delay-ms).
    pub power_delay_ms: Option<u64>,
    /// Extra latency of every machine request under fault "slow".
    pub slow_ms: u64,
    /// Under fault "flapping": the power state reads on for this long, then off for this long,
    /// and so on, counted from when the fault was set.
    pub flap_ms: u64,
    /// `sh -c` when the machine goes off / on.
    pub on_power_off: Option<String>,
    pub on_power_on: Option<String>,
    #[serde(skip)]
    pub generation: u64,
    /// When the flapping began (the fault was set, or first read if it came from the
    /// machines file).
    #[serde(skip)]
    pub flap_since: Option<std::time::Instant>,
}

impl Default for SimMachine {
    fn default() -> Self {
        SimMachine {
            system_id: String::new(),
            hostname: String::new(),
            domain: "maas".into(),
            status_name: "Deployed".into(),
            power_state: "on".into(),
            power_type: "ipmi".into(),
            locked: false,
            owner: Some("admin".into()),
            tags: Vec::new(),
            zone: "default".into(),
            pool: "default".into(),
            ip_addresses: Vec::new(),
            fault: String::new(),
            power_delay_ms: None,
            slow_ms: 2000,
            flap_ms: 1000,
            on_power_off: None,
            on_power_on: None,
            generation: 0,
            flap_since: None,
        }
    }
}

/// MAAS's status number for a status name: the index in MAAS's list (maascommon/enums/node.py
/// `NodeStatus`, labels from maascommon/node.py).
fn status_code(name: &str) -> u32 {
    const NAMES: &[&str] = &[
        "New",
        "Commissioning",
        "Failed commissioning",
        "Missing",
        "Ready",
        "Reserved",
        "Deployed",
        "Retired",
        "Broken",
        "Deploying",
        "Allocated",
        "Failed deployment",
        "Releasing",
        "Releasing failed",
        "Disk erasing",
        "Failed disk erasing",
        "Rescue mode",
        "Entering rescue mode",
        "Failed to enter rescue mode",
        "Exiting rescue mode",
        "Failed to exit rescue mode",
        "Testing",
        "Failed testing",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(0, |p| p as u32)
}

impl SimMachine {
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.hostname, self.domain)
    }

    /// The machine object as MAAS 2.0 renders it (the fields of api/examples/nodes.json).
    pub fn to_json(&self) -> serde_json::Value {
        let uri = format!("/MAAS/api/2.0/machines/{}/", self.system_id);
        serde_json::json!({
            "system_id": self.system_id,
            "hostname": self.hostname,
            "fqdn": self.fqdn(),
            "domain": {"name": self.domain, "id": 0, "is_default": true, "authoritative": true,
                       "ttl": null, "resource_record_count": 0, "resource_uri": "/MAAS/api/2.0/domains/0/"},
            "power_state": self.power_state,
            "power_type": self.power_type,
            "status": status_code(&self.status_name),
            "status_name": self.status_name,
            "status_action": "",
            "status_message": "",
            "owner": self.owner,
            "owner_data": {},
            "locked": self.locked,
            "node_type": 0,
            "node_type_name": "Machine",
            "zone": {"name": self.zone, "id": 1, "description": "", "resource_uri": format!("/MAAS/api/2.0/zones/{}/", self.zone)},
            "pool": {"name": self.pool, "id": 1, "description": "", "resource_uri": "/MAAS/api/2.0/resourcepool/1/"},
            "tag_names": self.tags,
            "ip_addresses": self.ip_addresses,
            "architecture": "amd64/generic",
            "osystem": "ubuntu",
            "distro_series": "jammy",
            "hwe_kernel": "ga-22.04",
            "min_hwe_kernel": "",
            "netboot": false,
            "cpu_count": 64,
            "cpu_speed": 2400,
            "memory": 262144,
            "storage": 1920383.410176,
            "swap_size": null,
            "description": "",
            "hardware_uuid": format!("4c4c4544-0000-1000-8000-{:0>12}", self.system_id),
            "boot_disk": null,
            "testing_status_name": "Passed",
            "commissioning_status_name": "Passed",
            "virtualblockdevice_set": [],
            "special_filesystems": [],
            "resource_uri": uri,
        })
    }
}

/// A six-character lowercase id, as MAAS's system_ids look.
pub fn system_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut x = n.wrapping_mul(2_654_435_761) ^ 0x5bd1e995;
    let mut id = String::new();
    for _ in 0..6 {
        id.push(ALPHABET[x % ALPHABET.len()] as char);
        x /= ALPHABET.len();
    }
    id
}

pub fn generate(count: usize) -> Vec<SimMachine> {
    (1..=count)
        .map(|i| SimMachine {
            system_id: format!("{}{i}", &system_id(i)[..2]),
            hostname: format!("node-{i:05}"),
            tags: if i % 10 == 0 {
                vec!["compute".into()]
            } else {
                vec!["storage".into()]
            },
            zone: format!("zone-{}", i % 4),
            pool: format!("pool-{}", i % 3),
            ip_addresses: vec![format!(
                "10.{}.{}.{}",
                i / 65536 % 256,
                i / 256 % 256,
                i % 256
            )],
            ..SimMachine::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_machines_are_unique_and_realistic() {
        let machines = generate(10_000);
        let mut ids: Vec<&str> = machines.iter().map(|m| m.system_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10_000);
        let one = machines[0].to_json().to_string();
        assert!(
            one.len() > 1000,
            "a machine object should be MAAS-sized: {}",
            one.len()
        );
    }
}
