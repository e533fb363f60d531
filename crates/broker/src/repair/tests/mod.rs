//! Repair worker tests over a real redb index and memory providers.

mod fixture;
mod gc_race;
mod passes;
mod pending;
mod planner;
mod two_replicas;
