//! Property tests of the wire protocols: every encoder's output decodes to
//! what was encoded, in both families and both directions, however the
//! bytes are split into reads; the HTTP head parser gives one outcome for
//! a request whatever its split, and an outcome (never a panic) for any
//! bytes.
//!
//! Case counts are kept low enough for the whole suite to run in a few
//! seconds on two cores; `PROPTEST_CASES` does not change them,
//! `PROPS_SCALE=N` multiplies them (see [`common::cases`]).

mod common;
mod http;
mod reader;
mod v035;
mod v1x;
mod ws;
