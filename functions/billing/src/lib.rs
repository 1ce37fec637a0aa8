//! Billing: the scheduled run of subscription renewals (an EventBridge schedule on Lambda, a
//! background task of the local server). The schedule's event carries nothing the run needs:
//! what is due is read from the table, and each period is charged once however often, and
//! however many times at once, the run is started.

use buddo_shared::domain::billing::renewals::{self, RenewalReport};
use buddo_shared::AppState;

/// Renews what is due. A run whose every subscription failed fails as a whole, so the
/// schedule's retries (and the errors alarm) see it; single failures are logged and left for
/// the next run.
pub async fn handle(state: &AppState) -> Result<RenewalReport, String> {
    let report = renewals::run(state).await.map_err(|e| e.to_string())?;
    tracing::info!(
        renewed = report.renewed,
        past_due = report.past_due,
        canceled = report.canceled,
        failed = report.failed,
        "renewals"
    );
    if report.failed > 0 && report.renewed + report.past_due + report.canceled == 0 {
        return Err(format!("{} renewal(s) failed", report.failed));
    }
    Ok(report)
}
