//! Deterministic scheduler tests: a [`env::TestEnv`] builds a cluster, a queue and running jobs
//! at an injected time; [`env::Sim`] replays many rounds.

mod autoscale;
mod backfill;
mod env;
mod node;
mod order;
mod properties;
mod reasons;
mod resize;
mod slices;
mod starvation;
mod tick;
mod time;
