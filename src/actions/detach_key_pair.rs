//! DetachKeyPair: PLACEHOLDER until implemented.

use serde_json::Value;

use super::Ctx;
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;

#[derive(Debug)]
pub struct DetachKeyPair;

impl DetachKeyPair {
    pub fn parse(_params: &Params) -> Result<Self, ApiError> {
        Err(ApiError::new(Kind::InvalidActionNotFound))
    }

    pub fn execute(self, _ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        Err(ApiError::new(Kind::InvalidActionNotFound))
    }
}
