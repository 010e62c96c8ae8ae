//! A callback at the moment a service's keys point at its new zone, before the old zone drains
//! (the spec's `post_switch` hooks).

use async_trait::async_trait;

use crate::plan::ServicePlan;

#[async_trait]
pub trait OnSwitch: Send + Sync {
    /// Called once the atomic key write that makes `service.to` the active zone succeeded. The
    /// deploy goes on when it returns; it cannot fail the deploy.
    async fn switched(&self, service: &ServicePlan);
}
