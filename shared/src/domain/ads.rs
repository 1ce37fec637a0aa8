//! Ads (docs/architecture.md, "Ads"): campaigns admins run, served to users through operator
//! apps, paying points for impressions on rewarded surfaces and for clicks.
//!
//! A campaign's budget is spread over write shards, each holding its share; a payout takes its
//! cost from one shard, conditionally (`remaining >= cost`), and tries another when that one is
//! short, so a busy campaign is never written past DynamoDB's per-item rate and its budget is
//! never overspent. Its counts are sharded the same way and summed on read.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::User;
use super::ledger::{app_balance, EntryKind, Movement};
use super::oauth::apps::OAuthApp;
use super::webhooks::{self, Listening};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Item, Query, SortKey, Table, Update, WriteOp, TTL};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    Banner,
    Video,
    Interstitial,
    Native,
    Rewarded,
}

impl Surface {
    pub const ALL: [Surface; 5] = [
        Surface::Banner,
        Surface::Video,
        Surface::Interstitial,
        Surface::Native,
        Surface::Rewarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Banner => "banner",
            Surface::Video => "video",
            Surface::Interstitial => "interstitial",
            Surface::Native => "native",
            Surface::Rewarded => "rewarded",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                ApiError::field(
                    field,
                    "must be banner, video, interstitial, native or rewarded",
                )
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Active,
    Paused,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        match raw {
            "active" => Ok(CampaignStatus::Active),
            "paused" => Ok(CampaignStatus::Paused),
            _ => Err(ApiError::field(field, "must be active or paused")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Impression,
    Click,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Impression => "impression",
            EventType::Click => "click",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub surface_type: Surface,
    /// Points a paid event pays (before the user's multiplier).
    pub payout_rate: i64,
    /// Passed through; its `tiers` list, when present, limits who is served.
    pub targeting_metadata: Value,
    /// Passed through.
    pub bitcoin_tier: Value,
    pub budget: i64,
    /// Write shards the budget is spread over.
    #[serde(default = "one_shard")]
    pub budget_shards: u32,
    pub status: CampaignStatus,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub version: i64,
}

/// A campaign's counts and what is left of its budget.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignStats {
    pub impressions: i64,
    pub clicks: i64,
    pub paid_events: i64,
    pub points_paid: i64,
    pub budget_left: i64,
    /// What the fullest budget shard holds: the most one payout can take.
    #[serde(skip)]
    pub largest_payout: i64,
}

/// A recorded ad event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdEvent {
    pub id: String,
    pub campaign_id: String,
    pub app_id: String,
    pub user_id: String,
    pub event_type: EventType,
    pub surface_type: String,
    /// The campaign's payout rate when the event happened.
    pub payout_rate_snapshot: i64,
    /// What the event paid the user and the app together (0 when it paid nothing).
    pub points_paid: i64,
    pub inserted_at: String,
}

fn one_shard() -> u32 {
    1
}

/// A shard holds at least this many payouts: a budget split finer would strand more of itself
/// in shards too small for one payout (at most one payout's worth per shard is stranded).
const MIN_PAYOUTS_PER_SHARD: i64 = 10;

fn campaign_not_found() -> ApiError {
    ApiError::not_found("campaign_not_found", "No such campaign")
}

impl Campaign {
    fn item(&self) -> ApiResult<Item> {
        let mut item = store::to_item(&keys::campaign(&self.id), self)?;
        keys::campaign_index(
            self.surface_type.as_str(),
            self.status.as_str(),
            &self.created_at,
            &self.id,
        )
        .put_on(&mut item);
        Ok(item)
    }

    /// Running now: active, and within its dates.
    pub fn is_running(&self, now: &str) -> bool {
        self.status == CampaignStatus::Active
            && self.starts_at.as_deref().is_none_or(|s| s <= now)
            && self.ends_at.as_deref().is_none_or(|e| e > now)
    }

    /// Whether serving would pick this campaign for the user on `surface`, budget aside: the
    /// rule serving applies, and the one every event must meet.
    fn serves(&self, surface: Surface, tier: &str, now: &str) -> bool {
        self.surface_type == surface && self.is_running(now) && self.targets(tier)
    }

    /// Whether the user's tier is among the campaign's `targeting_metadata.tiers` (if any).
    fn targets(&self, tier: &str) -> bool {
        match self
            .targeting_metadata
            .get("tiers")
            .and_then(Value::as_array)
        {
            None => true,
            Some(tiers) => tiers.iter().any(|t| t.as_str() == Some(tier)),
        }
    }
}

/// What an admin sends to create a campaign (validated).
pub struct NewCampaign {
    pub name: String,
    pub surface_type: Surface,
    pub payout_rate: i64,
    pub targeting_metadata: Value,
    pub bitcoin_tier: Value,
    pub budget: i64,
    pub status: CampaignStatus,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

/// Creates a campaign with its budget split over the write shards, in one atomic write.
pub async fn create(state: &AppState, new: NewCampaign) -> ApiResult<Campaign> {
    let shards = (new.budget / (new.payout_rate.max(1) * MIN_PAYOUTS_PER_SHARD))
        .clamp(1, i64::from(state.config.economy.budget_shards));
    let campaign = Campaign {
        id: uuid::Uuid::new_v4().to_string(),
        name: new.name,
        surface_type: new.surface_type,
        payout_rate: new.payout_rate,
        targeting_metadata: new.targeting_metadata,
        bitcoin_tier: new.bitcoin_tier,
        budget: new.budget,
        budget_shards: shards as u32,
        status: new.status,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        created_at: rfc3339(state.now()),
        version: 0,
    };
    let mut ops = vec![WriteOp::put_new(campaign.item()?)];
    for shard in 0..shards {
        // An even share each; the remainder goes to the first shards.
        let share = campaign.budget / shards + i64::from(shard < campaign.budget % shards);
        ops.push(WriteOp::put_new(store::to_item(
            &keys::campaign_budget_shard(&campaign.id, shard as u32),
            &serde_json::json!({ "remaining": share }),
        )?));
    }
    state.table.write(ops).await?;
    Ok(campaign)
}

pub async fn get(table: &dyn Table, id: &str) -> ApiResult<Option<Campaign>> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    match table.get(&keys::campaign(id)).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// An admin's changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub payout_rate: Option<i64>,
    pub targeting_metadata: Option<Value>,
    pub bitcoin_tier: Option<Value>,
    pub status: Option<CampaignStatus>,
    pub starts_at: Option<Option<String>>,
    pub ends_at: Option<Option<String>>,
}

/// A changed field takes its new value; one left out keeps its own.
fn apply<T>(field: &mut T, change: Option<T>) {
    if let Some(value) = change {
        *field = value;
    }
}

/// Changes a campaign (its budget stays: it is spent from the shards).
pub async fn update(state: &AppState, id: &str, changes: CampaignChanges) -> ApiResult<Campaign> {
    let mut campaign = get(state.table.as_ref(), id)
        .await?
        .ok_or_else(campaign_not_found)?;
    let read_version = campaign.version;
    apply(&mut campaign.name, changes.name);
    apply(&mut campaign.payout_rate, changes.payout_rate);
    apply(&mut campaign.targeting_metadata, changes.targeting_metadata);
    apply(&mut campaign.bitcoin_tier, changes.bitcoin_tier);
    apply(&mut campaign.status, changes.status);
    apply(&mut campaign.starts_at, changes.starts_at);
    apply(&mut campaign.ends_at, changes.ends_at);
    campaign.version += 1;
    let put = WriteOp::Put {
        item: campaign.item()?,
        cond: Cond::eq("version", read_version),
    };
    state
        .table
        .write(vec![put])
        .await
        .on_condition(&keys::campaign(id), || {
            ApiError::conflict(
                "campaign_changed",
                "The campaign changed meanwhile; try again",
            )
        })?;
    Ok(campaign)
}

/// Every campaign of a surface (or of all), each with its counts.
pub async fn list(
    state: &AppState,
    surface: Option<Surface>,
    status: Option<CampaignStatus>,
) -> ApiResult<Vec<(Campaign, CampaignStats)>> {
    let table = state.table.as_ref();
    let surfaces: Vec<Surface> = surface
        .map(|s| vec![s])
        .unwrap_or_else(|| Surface::ALL.to_vec());
    // Each surface's campaigns are paged through on their own, the surfaces together.
    let of_surface = |surface: Surface| async move {
        let mut campaigns = Vec::new();
        let mut cursor = None;
        loop {
            let mut query = Query::gsi1(keys::campaigns_by_surface(surface.as_str()))
                .limit(100)
                .cursor(cursor);
            if let Some(status) = status {
                query = query.sk(SortKey::BeginsWith(keys::campaigns_prefix(status.as_str())));
            }
            let page = table.query(&query).await?;
            for item in page.items {
                campaigns.push(store::from_item::<Campaign>(item)?);
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok::<_, ApiError>(campaigns)
    };
    let mut campaigns: Vec<Campaign> =
        futures::future::try_join_all(surfaces.into_iter().map(of_surface))
            .await?
            .into_iter()
            .flatten()
            .collect();
    campaigns.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let stats =
        futures::future::try_join_all(campaigns.iter().map(|c| stats(table, &c.id))).await?;
    Ok(campaigns.into_iter().zip(stats).collect())
}

/// A campaign's counts and budget left: the sums of its shards, read with one query.
pub async fn stats(table: &dyn Table, id: &str) -> ApiResult<CampaignStats> {
    let page = table
        .query(&Query::partition(keys::campaign(id).pk).sk(SortKey::Any))
        .await?;
    let mut out = CampaignStats::default();
    let n = |item: &Item, name: &str| item.get(name).and_then(Value::as_i64).unwrap_or(0);
    for item in &page.items {
        let sk = item
            .get(store::SK)
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sk.starts_with(keys::BUDGET_PREFIX) {
            out.budget_left += n(item, "remaining");
            out.largest_payout = out.largest_payout.max(n(item, "remaining"));
        } else if sk.starts_with(keys::STATS_PREFIX) {
            out.impressions += n(item, "impressions");
            out.clicks += n(item, "clicks");
            out.paid_events += n(item, "paid_events");
            out.points_paid += n(item, "points_paid");
        }
    }
    Ok(out)
}

/// A running campaign for this surface that targets the user and has budget left; 404 when
/// there is none. Among several, one at random.
pub async fn serve(state: &AppState, user: &User, surface: Surface) -> ApiResult<Campaign> {
    let table = state.table.as_ref();
    let now = rfc3339(state.now());
    let tier = &state.config.tier(user.total_earned).name;
    let page = table
        .query(
            &Query::gsi1(keys::campaigns_by_surface(surface.as_str()))
                .sk(SortKey::BeginsWith(keys::campaigns_prefix(
                    CampaignStatus::Active.as_str(),
                )))
                .limit(100),
        )
        .await?;
    let mut candidates: Vec<Campaign> = page
        .items
        .into_iter()
        .map(store::from_item::<Campaign>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|c| c.serves(surface, tier, &now))
        .collect();
    candidates.shuffle(&mut rand::thread_rng());
    for campaign in candidates {
        // Served only while one more paid event fits in a budget shard.
        let (to_user, to_app) = payout(state, &campaign, user);
        if stats(table, &campaign.id).await?.largest_payout >= (to_user + to_app).max(1) {
            return Ok(campaign);
        }
    }
    Err(ApiError::not_found(
        "no_campaign",
        "No campaign to serve on this surface right now",
    ))
}

/// What one paid event costs the budget: the user's points (rate × multiplier) and the app's
/// share of the rate.
fn payout(state: &AppState, campaign: &Campaign, user: &User) -> (i64, i64) {
    let to_user = (campaign.payout_rate as f64 * user.signup_multiplier).floor() as i64;
    let to_app = campaign.payout_rate * state.config.economy.ad_app_share_percent / 100;
    (to_user, to_app)
}

/// Records an impression or a click for a user seen through an app, and pays for it when the
/// rules allow: a click pays after an impression of the same campaign by the same user within
/// the last 30 minutes; an impression pays only on a rewarded surface; each user is paid at
/// most once per campaign and event type a day; the budget must cover it; the app must be
/// approved (an unreviewed app mints nothing). Unpaid events are recorded too. An event for a
/// campaign serving would not pick for this user and surface is refused (403), and each app's
/// events are rate limited.
pub async fn record_event(
    state: &AppState,
    user: &User,
    app: &OAuthApp,
    campaign_id: &str,
    event_type: EventType,
    surface_type: Option<Surface>,
) -> ApiResult<AdEvent> {
    let table = state.table.as_ref();
    // The app's count, the campaign and (for a click that may pay) the user's impression of it
    // are read together; the 429 comes first, then what the campaign says.
    let seen_key = keys::ad_seen(&user.id, campaign_id);
    let may_pay_click = app.mints_points() && event_type == EventType::Click;
    let (counted, campaign, seen) = tokio::join!(
        state
            .limiter
            .hit("ad-events", &app.id, state.config.rate_limits.ad_events),
        get(table, campaign_id),
        async {
            match may_pay_click {
                true => table.get(&seen_key).await.map(|seen| seen.is_some()),
                false => Ok(false),
            }
        },
    );
    counted?;
    let campaign = campaign?.ok_or_else(campaign_not_found)?;
    let now = state.now();
    let surface = surface_type.unwrap_or(campaign.surface_type);
    let tier = &state.config.tier(user.total_earned).name;
    if !campaign.serves(surface, tier, &rfc3339(now)) {
        return Err(ApiError::forbidden(
            "campaign_not_served",
            "This campaign is not served to this user on this surface",
        ));
    }
    let recording = Recording {
        state,
        user,
        app_id: &app.id,
        seen_key,
        campaign: &campaign,
        event_type,
        surface,
        now,
    };
    let payable = app.mints_points()
        && match event_type {
            EventType::Impression => campaign.surface_type == Surface::Rewarded,
            EventType::Click => seen?,
        };
    if payable {
        if let Some(paid) = recording.pay().await? {
            return Ok(paid);
        }
    }
    let unpaid = recording.event(0);
    table.write(recording.ops(&unpaid)?).await?;
    Ok(unpaid)
}

/// One ad event being recorded, and what recording and paying it write.
struct Recording<'a> {
    state: &'a AppState,
    user: &'a User,
    app_id: &'a str,
    campaign: &'a Campaign,
    /// The user's impression of the campaign, which a paid click needs.
    seen_key: store::Key,
    event_type: EventType,
    surface: Surface,
    now: time::OffsetDateTime,
}

impl Recording<'_> {
    fn event(&self, points_paid: i64) -> AdEvent {
        AdEvent {
            id: uuid::Uuid::now_v7().to_string(),
            campaign_id: self.campaign.id.clone(),
            app_id: self.app_id.to_string(),
            user_id: self.user.id.clone(),
            event_type: self.event_type,
            surface_type: self.surface.as_str().to_string(),
            payout_rate_snapshot: self.campaign.payout_rate,
            points_paid,
            inserted_at: rfc3339(self.now),
        }
    }

    fn expires_in(&self, after: std::time::Duration) -> i64 {
        self.now.unix_timestamp() + after.as_secs() as i64
    }

    /// What every recording writes: the event, the campaign's counts, the impression marker.
    fn ops(&self, event: &AdEvent) -> ApiResult<Vec<WriteOp>> {
        let economy = &self.state.config.economy;
        let shard = rand::thread_rng().gen_range(0..economy.budget_shards);
        let counted = match self.event_type {
            EventType::Click => "clicks",
            EventType::Impression => "impressions",
        };
        let mut stats =
            Update::new(keys::campaign_stats_shard(&self.campaign.id, shard)).add(counted, 1);
        if event.points_paid > 0 {
            stats = stats
                .add("paid_events", 1)
                .add("points_paid", event.points_paid);
        }
        let mut record = store::to_item(
            &keys::ad_event(&self.user.id, &event.inserted_at, &event.id),
            event,
        )?;
        record.insert(
            TTL.into(),
            self.expires_in(economy.ad_event_retention).into(),
        );
        let mut ops = vec![WriteOp::put_new(record), stats.into_op()];
        if self.event_type == EventType::Impression {
            let at = self.now.unix_timestamp();
            let mut seen = store::to_item(&self.seen_key, &serde_json::json!({ "at": at }))?;
            seen.insert(
                TTL.into(),
                self.expires_in(economy.click_after_impression).into(),
            );
            ops.push(WriteOp::put(seen));
        }
        Ok(ops)
    }

    /// Records the event paid, from the first budget shard that covers it; `None` when none
    /// does or the user was paid for this already in the window (the caller records it
    /// unpaid).
    async fn pay(&self) -> ApiResult<Option<AdEvent>> {
        let (to_user, to_app) = payout(self.state, self.campaign, self.user);
        let cost = to_user + to_app;
        if cost <= 0 {
            return Ok(None);
        }
        let paid_key = keys::ad_paid(&self.user.id, &self.campaign.id, self.event_type.as_str());
        let mut shards: Vec<u32> = (0..self.campaign.budget_shards).collect();
        shards.shuffle(&mut rand::thread_rng());
        let listening = webhooks::listening(self.state).await;
        for shard in shards {
            let paid = self.event(cost);
            let budget_key = keys::campaign_budget_shard(&self.campaign.id, shard);
            let mut ops = self.ops(&paid)?;
            ops.push(
                Update::new(budget_key.clone())
                    .add("remaining", -cost)
                    .when(Cond::ge("remaining", cost))
                    .into_op(),
            );
            let mut marker =
                store::to_item(&paid_key, &serde_json::json!({ "event_id": paid.id }))?;
            let window = self.state.config.economy.paid_event_window;
            marker.insert(TTL.into(), self.expires_in(window).into());
            ops.push(WriteOp::put_new(marker));
            ops.extend(self.credits(to_user, to_app, listening)?);
            match self.state.table.write(ops).await {
                Ok(()) => return Ok(Some(paid)),
                // This shard is short: try the next one.
                Err(e) if e.failed_key() == Some(&budget_key) => continue,
                // Paid already in the window: recorded unpaid.
                Err(e) if e.failed_key() == Some(&paid_key) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// The user's reward and the app's share, with their ledger entries.
    fn credits(&self, to_user: i64, to_app: i64, listening: Listening) -> ApiResult<Vec<WriteOp>> {
        let mut ops = Movement {
            user_id: &self.user.id,
            amount: to_user,
            kind: EntryKind::AdReward,
            reference: &self.campaign.id,
            description: None,
            counterparty: None,
        }
        .ops(self.now, listening)?;
        if to_app > 0 {
            ops.extend(app_balance::credit_ops(
                self.app_id,
                self.state.config.economy.app_balance_shards,
                to_app,
                EntryKind::AdReward,
                &self.user.id,
                &self.campaign.id,
                self.now,
            )?);
        }
        Ok(ops)
    }
}
