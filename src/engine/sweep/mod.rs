//! Sweep algorithms: parameter spaces, samplers and early-termination policies.
//!
//! Theory of operation: everything here is pure computation on plain data. A [`Space`] says what
//! each parameter may take; a [`Sampler`] turns (space, trial history, seed) into the next
//! trial's parameters; a [`Policy`] turns the history of intermediate values into a stop or
//! continue [`Decision`] with a reason; a [`Search`] ties them into an ask/tell loop. No I/O, no
//! clocks, no global randomness: the same inputs give the same outputs, so sweeps can be
//! replayed, resumed and tested. The one exception is [`files::files_param`], which lists a
//! folder once, when a space is built. Wiring searches to jobs comes in a later layer.

pub mod conditional;
pub mod files;
pub mod gauss;
pub mod policy;
pub mod rng;
pub mod sampler;
pub mod search;
pub mod space;
pub mod trial;

pub use policy::{Decision, Policy};
pub use sampler::Sampler;
pub use search::Search;
pub use space::{Param, Space};
pub use trial::{Direction, Report, Trial, TrialState};
