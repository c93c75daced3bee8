//! sharesim: simulated Zendesk accounts that share tickets over real HTTP(S).
pub mod scenario;
