//! loadgen: drives an iroh 0.35 and 1.x relay with many real clients and reports
//! throughput, one-way latency, drops, connect times and CPU cost; `pump`
//! is a trivial forwarder that serves as the machine-limit baseline.

pub mod chart;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod duration;
pub mod fault;
pub mod frames;
pub mod groups;
pub mod handshake;
pub mod limits;
pub mod memory;
pub mod mix;
pub mod pattern;
pub mod payload;
pub mod procfs;
pub mod progress;
pub mod protocol;
pub mod pump;
pub mod report;
pub mod rows;
pub mod run;
pub mod runs;
pub mod shared;
pub mod stats;
pub mod summarize;
pub mod targets;
pub mod targets_1x;
pub mod thread_state;
pub mod upgrade;
pub mod verdict;
pub mod window;
pub mod wire;
pub mod worker;
