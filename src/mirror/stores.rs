//! The stores of one side of a run (sources or destinations), by location.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Result};

use crate::disk::DiskStore;
use crate::reference::{ImageRef, Location};
use crate::registry::{RegistryStore, Transport};
use crate::store::AnyStore;

/// One store per registry host, and the disk tree for `file://` references.
#[derive(Clone)]
pub struct Stores {
    transport: Transport,
    disk: Option<Arc<AnyStore>>,
    registries: Arc<std::sync::Mutex<HashMap<String, Arc<AnyStore>>>>,
}

impl Stores {
    /// `dir` serves `file://` references (`--from-dir` for sources, `--to-dir` for destinations).
    pub fn new(transport: Transport, dir: Option<PathBuf>) -> Stores {
        Stores { transport, disk: dir.map(|d| Arc::new(AnyStore::Disk(DiskStore::new(d)))), registries: Arc::default() }
    }

    /// The store that holds `r`.
    pub fn get(&self, r: &ImageRef) -> Result<Arc<AnyStore>> {
        match &r.location {
            Location::Disk => self.disk.clone().ok_or_else(|| {
                anyhow!("{r} is a file:// reference, but no directory was given (--from-dir or --to-dir)")
            }),
            Location::Registry(host) => {
                let mut map = self.registries.lock().unwrap_or_else(|p| p.into_inner());
                let store = map
                    .entry(host.clone())
                    .or_insert_with(|| Arc::new(AnyStore::Registry(RegistryStore::new(self.transport.client(host)))));
                Ok(store.clone())
            }
        }
    }

    /// The registry transport (retry policy and counters).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The disk store, when this side has one.
    pub fn disk(&self) -> Option<&DiskStore> {
        match self.disk.as_deref() {
            Some(AnyStore::Disk(d)) => Some(d),
            _ => None,
        }
    }
}
