//! `GET /MAAS/api/2.0/describe/`: the API description MAAS serves without authentication and
//! that python-libmaas (charm-hacluster's `external/maas` stonith plugin) builds its handlers
//! from on connect. The shape is MAAS's (`api/doc.py` `_describe_api`, `_describe_resource`,
//! `_describe_handler`, `_describe_actions`; `api/doc_handler.py` `describe`): `doc`,
//! `resources` sorted by name, each `{name, anon, auth}`, the `handlers` alias list (anon
//! handlers first, then auth ones), `hash`, and each handler's `uri` made absolute from the
//! request's scheme and Host. The content is what this simulator serves, no more: the handlers
//! (by MAAS's class names, paths and URI parameters) and, in each, only the actions the
//! simulator answers, so a client never finds in the description a call the simulator would
//! refuse. Action docs are MAAS's titles and descriptions without the parameter lists.

use super::Reply;
use serde_json::{json, Value};

/// One action: MAAS's `{method, name, doc, op, restful}`; a CRUD action has no op and is named
/// by its method (piston's crudmap: GET read, POST create, PUT update, DELETE delete).
fn action(method: &str, op: Option<&str>, title: &str, description: &str) -> Value {
    let name = match (op, method) {
        (Some(op), _) => op,
        (None, "GET") => "read",
        (None, "POST") => "create",
        (None, "PUT") => "update",
        (None, _) => "delete",
    };
    json!({
        "method": method,
        "name": name,
        "doc": format!("{title}\n\n{description}\n\n"),
        "op": op,
        "restful": op.is_none(),
    })
}

/// One handler; its actions sorted by name as MAAS sorts them.
fn handler(name: &str, doc: &str, params: &[&str], path: &str, mut actions: Vec<Value>) -> Value {
    actions.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "actions": actions,
        "doc": doc,
        "name": name,
        "params": params,
        "path": path,
    })
}

/// The relative description (MAAS's `_describe_api`, before `describe` makes URIs absolute).
fn describe_api() -> Value {
    let machines = handler(
        "MachinesHandler",
        "Manage the collection of all the machines in the MAAS.",
        &[],
        "/MAAS/api/2.0/machines/",
        vec![action(
            "GET",
            None,
            "List Nodes visible to the user",
            "List nodes visible to current user, optionally filtered by criteria.",
        )],
    );
    let machine = handler(
        "MachineHandler",
        "Manage an individual machine.\n\nA machine is identified by its system_id.",
        &["system_id"],
        "/MAAS/api/2.0/machines/{system_id}/",
        vec![
            action(
                "GET",
                None,
                "Read a node",
                "Reads a node with the given system_id.",
            ),
            action(
                "GET",
                Some("query_power_state"),
                "Get the power state of a node",
                "Gets the power state of a given node.",
            ),
            action(
                "POST",
                Some("power_off"),
                "Power off a node",
                "Powers off a given node.",
            ),
            action(
                "POST",
                Some("power_on"),
                "Turn on a node",
                "Turn on the given node with optional user-data and comment.",
            ),
        ],
    );
    let users = handler(
        "UsersHandler",
        "Manage the user accounts of this MAAS.",
        &[],
        "/MAAS/api/2.0/users/",
        vec![action(
            "GET",
            Some("whoami"),
            "Retrieve logged-in user",
            "Returns the currently logged-in user.",
        )],
    );
    let version = handler(
        "VersionHandler",
        "Information about this MAAS instance.",
        &[],
        "/MAAS/api/2.0/version/",
        vec![action(
            "GET",
            None,
            "MAAS version information",
            "Read version and capabilities of this MAAS instance.",
        )],
    );
    // Authenticated resources name themselves after their auth handler, anonymous-only ones
    // (version, OperationsResource without authentication) after their anon handler.
    let resources = vec![
        json!({"anon": null, "auth": machine, "name": "MachineHandler"}),
        json!({"anon": null, "auth": machines, "name": "MachinesHandler"}),
        json!({"anon": null, "auth": users, "name": "UsersHandler"}),
        json!({"anon": version, "auth": null, "name": "VersionHandler"}),
    ];
    let mut handlers: Vec<Value> = resources
        .iter()
        .filter(|r| !r["anon"].is_null())
        .map(|r| r["anon"].clone())
        .collect();
    handlers.extend(
        resources
            .iter()
            .filter(|r| !r["auth"].is_null())
            .map(|r| r["auth"].clone()),
    );
    json!({"doc": "MAAS API", "resources": resources, "handlers": handlers})
}

/// A stable digest of the description, in the place of MAAS's SHA-1 of its canonical form
/// (clients only compare it with the one they cached): 40 hex digits of two FNV-1a passes.
fn digest(text: &str) -> String {
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32)
}

/// The description as `describe` sends it: every handler's `uri` absolute (`http://` + the
/// Host the client used + its path), JSON with sorted keys, `application/json` without a
/// charset (Django's `HttpResponse(content_type="application/json")`).
pub fn describe(host: &str) -> Reply {
    let mut description = describe_api();
    let hash = digest(&description.to_string());
    let absolute = |handler: &mut Value| {
        if let Some(path) = handler["path"].as_str().map(str::to_string) {
            handler["uri"] = json!(format!("http://{host}{path}"));
        }
    };
    if let Some(resources) = description["resources"].as_array_mut() {
        for resource in resources {
            for kind in ["anon", "auth"] {
                if !resource[kind].is_null() {
                    absolute(&mut resource[kind]);
                }
            }
        }
    }
    // In MAAS the alias list holds the very handler dicts of `resources` (deepcopy keeps the
    // sharing), so its entries get the absolute URI too.
    if let Some(handlers) = description["handlers"].as_array_mut() {
        handlers.iter_mut().for_each(absolute);
    }
    description["hash"] = json!(hash);
    Reply {
        // serde_json's maps are sorted (no preserve_order), as json.dumps(sort_keys=True).
        body: description.to_string(),
        content_type: "application/json",
        ..super::json(200, &Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_has_an_absolute_uri_and_maas_action_fields() {
        let reply = describe("10.0.0.1:5240");
        assert_eq!(reply.status, 200);
        let d: Value = serde_json::from_str(&reply.body).expect("JSON");
        let resources = d["resources"].as_array().expect("resources");
        let names: Vec<&str> = resources
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "resources are sorted by name");
        for r in resources {
            for kind in ["anon", "auth"] {
                let h = &r[kind];
                if h.is_null() {
                    continue;
                }
                let uri = h["uri"].as_str().expect("uri");
                assert!(
                    uri.starts_with("http://10.0.0.1:5240/MAAS/api/2.0/"),
                    "{uri}"
                );
                for a in h["actions"].as_array().expect("actions") {
                    for key in ["method", "name", "doc", "op", "restful"] {
                        assert!(a.get(key).is_some(), "{key} missing in {a}");
                    }
                }
            }
        }
        let handlers = d["handlers"].as_array().expect("handlers");
        assert_eq!(handlers.len(), 4);
        assert!(handlers.iter().all(|h| h["uri"].is_string()));
        assert_eq!(d["hash"].as_str().map(str::len), Some(40));
    }
}
