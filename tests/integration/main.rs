//! The one integration-test binary (one link on 2 cores): a module per capability, sharing
//! the test bed in `support` (real docker-registry processes, a release generator, checks).

mod support;

mod carry;
mod cli;
mod cluster;
mod cosign;
mod credentials;
mod demo;
mod disk;
mod events;
mod faults;
mod hostile;
mod http;
mod library;
mod memory;
mod mirror;
mod mirror_errors;
mod oc_compat;
mod osus;
mod plugin;
mod registries;
mod reliability;
mod signatures;
mod speed;
mod upgrade;
