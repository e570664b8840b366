//! The Kubernetes API semantics of the stand-in (see `apiserver.rs` for the server): core/v1
//! ConfigMaps and config.openshift.io/v1 ClusterVersion at their real paths, with the real
//! status codes and `Status` bodies: 201/200, 404 NotFound (the object; the namespace only for
//! a create, as the NamespaceLifecycle admission plugin answers), 409 AlreadyExists, 409
//! Conflict on a stale resourceVersion, 415 UnsupportedMediaType for a body or patch type
//! the server does not take, 422 Invalid, 400 BadRequest, 401/403; a global resourceVersion
//! that grows on every write; `dryRun=All` validated and answered but not persisted;
//! `fieldManager` recorded in `managedFields`. Bodies are JSON or YAML, patches JSON merge
//! or strategic merge (the same for a ConfigMap); protobuf bodies, JSON patches and apply
//! patches are not implemented and answer 500, so a test that sends one fails loudly.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::apiserver::cluster_version;
use super::apiserver_body::{decode, merge_patch, validate};

/// Which requests are forbidden (403), as for a user without the RBAC to do them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forbid {
    Nothing,
    /// Writes to ConfigMaps (a user with the `view` role).
    ConfigMapWrites,
    /// Reads of ConfigMaps (a user bound to a role that may create and update them only).
    ConfigMapReads,
    /// Everything but `/version`.
    All,
}

/// The cluster's state and the behaviours a test asks for.
pub struct ApiState {
    pub token: String,
    pub namespaces: BTreeSet<String>,
    /// ConfigMaps by (namespace, name).
    pub config_maps: BTreeMap<(String, String), Value>,
    /// `clusterversions/version`; `None` for a plain Kubernetes cluster (no such resource).
    pub cluster_version: Option<Value>,
    pub forbid: Forbid,
    /// The next N updates find the object changed by someone else (409 Conflict).
    pub conflicts_left: u32,
    revision: u64,
}

/// A response: status code and JSON (or, for an unknown path, plain text) body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// The request as the API sees it.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The media type of the body, without parameters (`application/json; charset=utf-8`
    /// is `application/json`); empty when there is no Content-Type.
    pub(super) fn media_type(&self) -> String {
        let value = self.content_type.unwrap_or_default();
        value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
    }
}

/// The media types kube-apiserver (1.28, OpenShift 4.15) decodes a POST or PUT body from, in
/// the order its 415 message lists them; no Content-Type means the first.
const BODY_TYPES: [&str; 3] = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
/// The patch types it takes for a built-in resource, in the order its 415 message lists them.
const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// 415 as the API server writes it (`negotiation.NewUnsupportedMediaTypeError`).
fn unsupported_media_type(accepted: &[&str]) -> Reply {
    let message = format!(
        "the body of the request was in an unknown format - accepted media types include: {}",
        accepted.join(", ")
    );
    status(415, "UnsupportedMediaType", &message, None)
}

/// What the stand-in does not implement: a 500 no client under test should ever see.
pub(super) fn not_implemented(what: &str) -> Reply {
    status(500, "InternalError", &format!("the API stand-in does not implement {what}"), None)
}

fn reply(status: u16, body: &Value) -> Reply {
    Reply { status, body: body.to_string().into_bytes(), content_type: "application/json" }
}

/// A `meta/v1` Status of failure, as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str, details: Option<(&str, &str)>) -> Reply {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if let Some((name, kind)) = details {
        body["details"] = json!({"name": name, "kind": kind});
    }
    reply(code, &body)
}

/// What kube-apiserver answers for a path it does not serve.
fn page_not_found() -> Reply {
    Reply { status: 404, body: b"404 page not found\n".to_vec(), content_type: "text/plain; charset=utf-8" }
}

fn not_found(name: &str) -> Reply {
    status(404, "NotFound", &format!("configmaps \"{name}\" not found"), Some((name, "configmaps")))
}

impl ApiState {
    pub fn new(token: &str) -> ApiState {
        let namespaces = ["default", "kube-system", "openshift-config-managed"].map(String::from).into();
        ApiState {
            token: token.to_string(),
            namespaces,
            config_maps: BTreeMap::new(),
            cluster_version: Some(cluster_version("4.15.3")),
            forbid: Forbid::Nothing,
            conflicts_left: 0,
            revision: 1000,
        }
    }

    /// Stores `object` (a ConfigMap) as if someone had created it, with a fresh resourceVersion.
    pub fn put_config_map(&mut self, namespace: &str, mut object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        object["metadata"]["namespace"] = json!(namespace);
        self.config_maps.insert((namespace.to_string(), name), object);
    }

    pub fn handle(&mut self, call: &Call) -> Reply {
        if call.authorization != Some(format!("Bearer {}", self.token).as_str()) {
            return status(401, "Unauthorized", "Unauthorized", None);
        }
        let parts: Vec<&str> = call.path.trim_matches('/').split('/').collect();
        match (call.method, parts.as_slice()) {
            ("GET", ["version"]) => reply(200, &version()),
            ("GET", ["api"]) => reply(200, &json!({"kind": "APIVersions", "versions": ["v1"]})),
            ("GET", ["apis"]) => reply(200, &self.api_groups()),
            _ if self.forbid == Forbid::All => forbidden(call, &parts),
            ("GET", ["apis", "config.openshift.io", "v1", "clusterversions", name]) => self.get_cluster_version(name),
            (_, ["api", "v1", "namespaces", ns, "configmaps", rest @ ..]) if rest.len() <= 1 => {
                let read = call.method == "GET";
                match self.forbid {
                    Forbid::ConfigMapWrites if !read => return forbidden(call, &parts),
                    Forbid::ConfigMapReads if read => return forbidden(call, &parts),
                    _ => {}
                }
                self.config_map_call(call, ns, rest.first().copied())
            }
            _ => page_not_found(),
        }
    }

    fn api_groups(&self) -> Value {
        let groups: Vec<Value> = self
            .cluster_version
            .iter()
            .map(|_| {
                json!({"name": "config.openshift.io", "versions": [{"groupVersion": "config.openshift.io/v1", "version": "v1"}],
                       "preferredVersion": {"groupVersion": "config.openshift.io/v1", "version": "v1"}})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn get_cluster_version(&self, name: &str) -> Reply {
        match &self.cluster_version {
            None => page_not_found(),
            Some(cv) if name == "version" => reply(200, cv),
            Some(_) => status(
                404,
                "NotFound",
                &format!("clusterversions.config.openshift.io \"{name}\" not found"),
                Some((name, "clusterversions")),
            ),
        }
    }

    fn config_map_call(&mut self, call: &Call, ns: &str, name: Option<&str>) -> Reply {
        let media_type = call.media_type();
        match call.method {
            "POST" | "PUT" if !media_type.is_empty() && !BODY_TYPES.contains(&media_type.as_str()) => {
                return unsupported_media_type(&BODY_TYPES);
            }
            "PATCH" if !PATCH_TYPES.contains(&media_type.as_str()) => return unsupported_media_type(&PATCH_TYPES),
            _ => {}
        }
        let dry_run = match call.param("dryRun") {
            None => false,
            Some("All") => true,
            Some(other) => return status(400, "BadRequest", &format!("Invalid dry run value: {other}"), None),
        };
        // Only a create is refused for its namespace (the NamespaceLifecycle admission
        // plugin); anything else in a missing namespace finds no object there.
        if !self.namespaces.contains(ns) {
            match (call.method, name) {
                ("POST", _) => {
                    let message = format!("namespaces \"{ns}\" not found");
                    return status(404, "NotFound", &message, Some((ns, "namespaces")));
                }
                (_, Some(n)) => return not_found(n),
                _ => {}
            }
        }
        let key = |n: &str| (ns.to_string(), n.to_string());
        match (call.method, name) {
            ("GET", Some(n)) => self.config_maps.get(&key(n)).map_or_else(|| not_found(n), |cm| reply(200, cm)),
            ("POST", None) => self.create(call, ns, dry_run),
            ("PUT", Some(n)) => self.update(call, ns, n, dry_run),
            ("PATCH", Some(n)) => self.patch(call, ns, n, dry_run),
            ("DELETE", Some(n)) if dry_run => {
                self.config_maps.get(&key(n)).map_or_else(|| not_found(n), |_| deleted(n))
            }
            ("DELETE", Some(n)) => self.config_maps.remove(&key(n)).map_or_else(|| not_found(n), |_| deleted(n)),
            _ => {
                status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", None)
            }
        }
    }

    fn create(&mut self, call: &Call, ns: &str, dry_run: bool) -> Reply {
        let mut object = match decode(call, ns, None) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if !object["metadata"]["resourceVersion"].is_null() {
            return status(400, "BadRequest", "resourceVersion should not be set on objects to be created", None);
        }
        if self.config_maps.contains_key(&(ns.to_string(), name.clone())) {
            let message = format!("configmaps \"{name}\" already exists");
            return status(409, "AlreadyExists", &message, Some((&name, "configmaps")));
        }
        object["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.revision));
        object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        if let Err(r) = self.commit(call, ns, &name, &mut object, dry_run, "Update") {
            return r;
        }
        reply(201, &object)
    }

    fn update(&mut self, call: &Call, ns: &str, name: &str, dry_run: bool) -> Reply {
        let mut object = match decode(call, ns, Some(name)) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let key = (ns.to_string(), name.to_string());
        if self.conflicts_left > 0 && self.config_maps.contains_key(&key) {
            // Someone else writes the object first: its resourceVersion moves on.
            self.conflicts_left -= 1;
            self.revision += 1;
            let revision = self.revision.to_string();
            if let Some(stored) = self.config_maps.get_mut(&key) {
                stored["metadata"]["resourceVersion"] = json!(revision);
            }
        }
        let Some(stored) = self.config_maps.get(&key) else { return not_found(name) };
        let sent = object["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        if sent.is_empty() {
            let message = format!(
                "ConfigMap \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
            );
            return status(422, "Invalid", &message, Some((name, "ConfigMap")));
        }
        if stored["metadata"]["resourceVersion"].as_str() != Some(sent.as_str()) {
            let message = format!(
                "Operation cannot be fulfilled on configmaps \"{name}\": the object has been modified; please apply \
                 your changes to the latest version and try again"
            );
            return status(409, "Conflict", &message, Some((name, "configmaps")));
        }
        for field in ["uid", "creationTimestamp"] {
            object["metadata"][field] = stored["metadata"][field].clone();
        }
        if let Err(r) = self.commit(call, ns, name, &mut object, dry_run, "Update") {
            return r;
        }
        reply(200, &object)
    }

    fn patch(&mut self, call: &Call, ns: &str, name: &str, dry_run: bool) -> Reply {
        let media_type = call.media_type();
        if !media_type.contains("merge-patch") {
            return not_implemented(&format!("{media_type} patches"));
        }
        let Some(stored) = self.config_maps.get(&(ns.to_string(), name.to_string())) else { return not_found(name) };
        let Ok(patch) = serde_json::from_slice::<Value>(call.body) else {
            return status(400, "BadRequest", "the body of the request was in an unknown format", None);
        };
        let mut object = stored.clone();
        merge_patch(&mut object, &patch);
        if let Err(r) = self.commit(call, ns, name, &mut object, dry_run, "Update") {
            return r;
        }
        reply(200, &object)
    }

    /// Validates, records the field manager, sets a new resourceVersion and stores (unless dry run).
    fn commit(
        &mut self,
        call: &Call,
        ns: &str,
        name: &str,
        object: &mut Value,
        dry_run: bool,
        operation: &str,
    ) -> Result<(), Reply> {
        validate(object, name)?;
        let manager = call.param("fieldManager").unwrap_or("unknown");
        if manager.len() > 128 {
            return Err(status(422, "Invalid", "fieldManager: Too long: must have at most 128 bytes", None));
        }
        object["metadata"]["managedFields"] = json!([{
            "manager": manager, "operation": operation, "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {}
        }]);
        if dry_run {
            return Ok(());
        }
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.config_maps.insert((ns.to_string(), name.to_string()), object.clone());
        Ok(())
    }
}

fn forbidden(call: &Call, parts: &[&str]) -> Reply {
    let verb = match call.method {
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        _ => "delete",
    };
    let (resource, ns, name) = match parts {
        ["api", "v1", "namespaces", ns, resource, rest @ ..] => (*resource, Some(*ns), rest.first().copied()),
        ["apis", _, _, resource, name] => (*resource, None, Some(*name)),
        _ => ("", None, None),
    };
    let scope = ns.map_or(" at the cluster scope".to_string(), |n| format!(" in the namespace \"{n}\""));
    let named = name.map_or(resource.to_string(), |n| format!("{resource} \"{n}\""));
    let message = format!(
        "{named} is forbidden: User \"system:serviceaccount:mirror:robot\" cannot {verb} resource \"{resource}\" \
         in API group \"\"{scope}"
    );
    status(403, "Forbidden", &message, Some((name.unwrap_or_default(), resource)))
}

fn deleted(name: &str) -> Reply {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": name, "kind": "configmaps"}});
    reply(200, &body)
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "28", "gitVersion": "v1.28.9+416ecaf", "gitCommit": "416ecaf",
        "gitTreeState": "clean", "buildDate": "2024-04-01T00:00:00Z", "goVersion": "go1.20.12",
        "compiler": "gc", "platform": "linux/amd64"
    })
}
