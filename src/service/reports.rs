//! Reports on what people and virtual agents did: conversations opened and resolved, messages in
//! and out, first response and resolution times (median and p90), per local day or week and split
//! by channel, team, operator or virtual agent; the live workload; CSV of each; and the account's
//! business hours, which those times count when set.
//!
//! The figures come from the event log: the webhook dispatcher, which sees every committed event
//! once, folds them into report rows in the transaction that marks them dispatched ([`project`]),
//! so ingestion writes nothing more. A conversation waits for people from its first inbound
//! message while people handle it, or from the moment people take it over from its virtual agent;
//! its first response is the first message people (or an integration) send after that; it is
//! resolved when its status becomes resolved or closed (a reopened conversation counts when it is
//! resolved again), and resolved by its virtual agent when no person was involved.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{IntoParams, ToSchema};

use crate::domain::reports::{
    days_between, nearest_rank, parse_timezone, BusinessHours, Interval, OpenTime, Periods, Schedule, Stopwatch,
};
use crate::domain::time::{now_ms, parse_timestamp, to_rfc3339};
use crate::domain::{ConversationStatus, Handler};
use crate::error::{Error, Result};
use crate::service::events::kind;
use crate::state::AppState;
use crate::store::events::EventRow;
use crate::store::reports::{self as store, CountKey, Dimension, ReportConversationRow, Series, BUCKET_MS};
use crate::store::{accounts, Conn, Db};

/// The installation setting holding the last event folded into the report rows by
/// [`fold_history`]; the dispatcher folds only later ones.
const HISTORY_SETTING: &str = "reports_history_through_event";
/// The longest range a report covers, in days.
const MAX_RANGE_DAYS: i64 = 400;
/// The range a report covers when the query names none.
const DEFAULT_RANGE_DAYS: i64 = 30;
/// Reports computed at once: a report over a million conversations holds their times in memory.
static RUNNING: Semaphore = Semaphore::const_new(2);

/// Builds the report rows of what was stored before reports existed (or written in bulk), once
/// per database.
pub async fn fold_history(db: &Db) -> anyhow::Result<()> {
    if accounts::find_setting(db.reader(), HISTORY_SETTING).await?.is_some() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let through: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events").fetch_one(&mut *tx).await?;
    store::rebuild(&mut tx).await?;
    accounts::insert_setting_if_absent(&mut tx, HISTORY_SETTING, &through.to_string()).await?;
    tx.commit().await?;
    store::settle(db).await?;
    Ok(())
}

/// What an event tells the reports.
enum Fact {
    /// A conversation as it stands after a change.
    Conversation(Snapshot),
    /// A message was stored.
    Message(MessageFact),
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Snapshot {
    id: i64,
    channel: ChannelRef,
    team_id: Option<i64>,
    assignee_id: Option<i64>,
    handler: String,
    virtual_agent_id: Option<i64>,
    status: String,
    created_at: String,
}

#[derive(Deserialize)]
struct ChannelRef {
    id: i64,
}

#[derive(Deserialize)]
struct MessageFact {
    conversation_id: i64,
    channel_id: i64,
    direction: String,
    sender: Sender,
    private: bool,
}

#[derive(Deserialize)]
struct Sender {
    #[serde(rename = "type")]
    kind: String,
    id: Option<i64>,
}

impl Fact {
    fn of(event: &EventRow) -> Option<Fact> {
        match event.kind.as_str() {
            kind::CONVERSATION_CREATED
            | kind::CONVERSATION_UPDATED
            | kind::CONVERSATION_STATUS_CHANGED
            | kind::CONVERSATION_ASSIGNED
            | kind::CONVERSATION_HANDLER_CHANGED
            | kind::CONVERSATION_ARCHIVED
            | kind::CONVERSATION_READ => {
                serde_json::from_str::<Envelope<Snapshot>>(&event.payload).ok().map(|e| Fact::Conversation(e.data))
            }
            kind::MESSAGE_CREATED => serde_json::from_str::<Envelope<MessageFact>>(&event.payload)
                .ok()
                .filter(|e| !e.data.private)
                .map(|e| Fact::Message(e.data)),
            _ => None,
        }
    }

    fn conversation_id(&self) -> i64 {
        match self {
            Fact::Conversation(snapshot) => snapshot.id,
            Fact::Message(message) => message.conversation_id,
        }
    }
}

/// Folds dispatched events into the report rows, inside the dispatcher's transaction.
pub async fn project(conn: &mut Conn, events: &[EventRow]) -> Result<()> {
    let through = accounts::find_setting(&mut *conn, HISTORY_SETTING).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let facts: Vec<(&EventRow, Fact)> =
        events.iter().filter(|e| e.id > through).filter_map(|e| Fact::of(e).map(|fact| (e, fact))).collect();
    if facts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> =
        facts.iter().map(|(_, fact)| fact.conversation_id()).collect::<BTreeSet<_>>().into_iter().collect();
    let stored = store::find_conversations(conn, &ids).await?;
    let mut rows: BTreeMap<i64, ReportConversationRow> =
        stored.iter().map(|r| (r.conversation_id, r.clone())).collect();
    let mut counts: BTreeMap<CountKey, (i64, i64)> = BTreeMap::new();
    for (event, fact) in facts {
        match fact {
            Fact::Conversation(snapshot) => fold_snapshot(&mut rows, event, &snapshot),
            Fact::Message(message) => fold_message(&mut rows, &mut counts, event, &message),
        }
    }
    let unchanged: HashMap<i64, &ReportConversationRow> = stored.iter().map(|r| (r.conversation_id, r)).collect();
    let changed: Vec<ReportConversationRow> =
        rows.into_values().filter(|row| unchanged.get(&row.conversation_id) != Some(&row)).collect();
    store::save_conversations(conn, &changed).await?;
    store::add_message_counts(conn, &counts.into_iter().collect::<Vec<_>>()).await?;
    Ok(())
}

fn is_resolved(status: &str) -> bool {
    status == ConversationStatus::Resolved.as_str() || status == ConversationStatus::Closed.as_str()
}

/// The report row of a conversation seen for the first time.
fn fresh(
    conversation_id: i64,
    account_id: i64,
    channel_id: i64,
    handler: &str,
    opened_at: i64,
) -> ReportConversationRow {
    ReportConversationRow {
        conversation_id,
        account_id,
        channel_id,
        team_id: None,
        assignee_id: None,
        handler: handler.to_owned(),
        agent_id: None,
        opened_at,
        waiting_from: None,
        first_response_at: None,
        responder_id: None,
        escalated_at: None,
        resolved_at: None,
        bot_resolved: 0,
    }
}

/// A conversation changed: who has it, and whether it was escalated or resolved just now.
fn fold_snapshot(rows: &mut BTreeMap<i64, ReportConversationRow>, event: &EventRow, snapshot: &Snapshot) {
    let at = event.created_at;
    let row = rows.entry(snapshot.id).or_insert_with(|| {
        let opened_at = parse_timestamp(&snapshot.created_at).unwrap_or(at);
        fresh(snapshot.id, event.account_id, snapshot.channel.id, &snapshot.handler, opened_at)
    });
    let by_agent = Handler::VirtualAgent.as_str();
    if row.handler == by_agent && snapshot.handler != by_agent && row.escalated_at.is_none() {
        row.escalated_at = Some(at);
        if row.first_response_at.is_none() {
            row.waiting_from = Some(at);
        }
    }
    if snapshot.handler == by_agent {
        row.agent_id = row.agent_id.or(snapshot.virtual_agent_id);
    }
    row.channel_id = snapshot.channel.id;
    row.team_id = snapshot.team_id;
    row.assignee_id = snapshot.assignee_id;
    row.handler.clone_from(&snapshot.handler);
    match (is_resolved(&snapshot.status), row.resolved_at) {
        (true, None) => {
            row.resolved_at = Some(at);
            row.bot_resolved = i64::from(row.handler == by_agent && row.escalated_at.is_none());
        }
        (false, Some(_)) => {
            row.resolved_at = None;
            row.bot_resolved = 0;
        }
        _ => {}
    }
}

/// A message was stored: count it, and start or end the customer's wait for people.
fn fold_message(
    rows: &mut BTreeMap<i64, ReportConversationRow>,
    counts: &mut BTreeMap<CountKey, (i64, i64)>,
    event: &EventRow,
    message: &MessageFact,
) {
    let at = event.created_at;
    let row = rows.entry(message.conversation_id).or_insert_with(|| {
        fresh(message.conversation_id, event.account_id, message.channel_id, Handler::Human.as_str(), at)
    });
    let inbound = message.direction == "inbound";
    let by_agent = message.sender.kind == "virtual_agent";
    let handled_by_agent = row.handler == Handler::VirtualAgent.as_str();
    let operator = match (inbound, message.sender.kind.as_str()) {
        (true, _) => row.assignee_id,
        (false, "operator") => message.sender.id,
        _ => None,
    };
    let agent = match (inbound, by_agent) {
        (true, _) if handled_by_agent => row.agent_id,
        (false, true) => message.sender.id,
        _ => None,
    };
    if inbound && !handled_by_agent && row.waiting_from.is_none() && row.first_response_at.is_none() {
        row.waiting_from = Some(at);
    }
    if !inbound && !by_agent && row.waiting_from.is_some() && row.first_response_at.is_none() {
        row.first_response_at = Some(at);
        row.responder_id = operator;
    }
    let bucket_at = at - at.rem_euclid(BUCKET_MS);
    for (dimension, id) in
        [("channel", Some(row.channel_id)), ("team", row.team_id), ("operator", operator), ("virtual_agent", agent)]
    {
        let key = CountKey { account_id: row.account_id, bucket_at, dimension, dimension_id: id.unwrap_or(0) };
        let count = counts.entry(key).or_default();
        if inbound {
            count.0 += 1;
        } else {
            count.1 += 1;
        }
    }
}

/// What a report splits its figures by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Channel,
    Team,
    /// The assignee (for first responses: the operator who answered).
    Operator,
    /// The virtual agent that handled the conversation first.
    VirtualAgent,
}

impl GroupBy {
    fn dimension(group_by: Option<GroupBy>) -> Dimension {
        match group_by {
            None => Dimension::Everything,
            Some(GroupBy::Channel) => Dimension::Channel,
            Some(GroupBy::Team) => Dimension::Team,
            Some(GroupBy::Operator) => Dimension::Operator,
            Some(GroupBy::VirtualAgent) => Dimension::VirtualAgent,
        }
    }
}

/// What the activity report covers.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Start of the range (RFC 3339 or `YYYY-MM-DD`); 30 days before `to` when omitted.
    pub from: Option<String>,
    /// End of the range, exclusive; now when omitted. At most 400 days after `from`.
    pub to: Option<String>,
    /// `day` (default) or `week` (Monday to Sunday).
    pub interval: Option<Interval>,
    /// Split every figure by `channel`, `team`, `operator` or `virtual_agent`.
    pub group_by: Option<GroupBy>,
    /// IANA time zone of the days and weeks; the business hours' zone, else UTC, when omitted.
    pub timezone: Option<String>,
}

/// Times from a start to an end: how many, their median and 90th percentile (nearest rank: an
/// observed value), in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Times {
    pub count: i64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

/// Milliseconds as seconds.
fn seconds(ms: Option<i64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

impl Times {
    fn of(mut values: Vec<i64>) -> Times {
        values.sort_unstable();
        Times {
            count: values.len() as i64,
            median_seconds: seconds(nearest_rank(&values, 50)),
            p90_seconds: seconds(nearest_rank(&values, 90)),
        }
    }
}

/// What a figure is split by: a channel (with its network), team, operator or virtual agent;
/// `id` null for none (no team, unassigned, no virtual agent).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Group {
    pub id: Option<i64>,
    pub name: Option<String>,
    /// A channel's network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One period's (or the whole range's) figures, for one group when the report is split.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    pub opened: i64,
    pub resolved: i64,
    pub messages_in: i64,
    pub messages_out: i64,
    /// From the customer's first message waiting for people (or the escalation) to people's first answer.
    pub first_response: Times,
    /// From opening to resolution.
    pub resolution: Times,
    /// Resolved by a virtual agent with no person involved.
    pub bot_resolved: i64,
    /// Taken over by people from a virtual agent.
    pub escalated: i64,
    /// `bot_resolved / (bot_resolved + escalated)`; null when neither happened.
    pub bot_resolved_share: Option<f64>,
}

/// One day or week of a report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    /// The local date it starts on.
    pub date: String,
    /// When it starts.
    pub start: String,
    pub figures: Vec<Figures>,
}

/// The activity report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activity {
    pub from: String,
    pub to: String,
    pub interval: Interval,
    pub timezone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// Whether times count only the account's business hours.
    pub business_hours: bool,
    /// The whole range, all groups together (times over every value, not medians of the groups').
    pub overall: Figures,
    /// The whole range, per group.
    pub totals: Vec<Figures>,
    pub periods: Vec<Period>,
}

/// What piles up for one period and group.
#[derive(Debug, Default)]
struct Tally {
    opened: i64,
    resolved: i64,
    messages_in: i64,
    messages_out: i64,
    first_responses: Vec<i64>,
    resolutions: Vec<i64>,
    bot_resolved: i64,
    escalated: i64,
}

impl Tally {
    fn figures(self, group: Option<Group>) -> Figures {
        let handled = self.bot_resolved + self.escalated;
        Figures {
            group,
            opened: self.opened,
            resolved: self.resolved,
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            first_response: Times::of(self.first_responses),
            resolution: Times::of(self.resolutions),
            bot_resolved: self.bot_resolved,
            escalated: self.escalated,
            bot_resolved_share: (handled > 0).then(|| self.bot_resolved as f64 / handled as f64),
        }
    }
}

impl Tally {
    /// Adds another tally's figures to this one's.
    fn absorb(&mut self, other: &Tally) {
        self.opened += other.opened;
        self.resolved += other.resolved;
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.first_responses.extend_from_slice(&other.first_responses);
        self.resolutions.extend_from_slice(&other.resolutions);
        self.bot_resolved += other.bot_resolved;
        self.escalated += other.escalated;
    }
}

/// Tallies per period (index) and group (id, 0 for none).
type Tallies = BTreeMap<(usize, i64), Tally>;

/// Spans a range is read in at most: a report holds one span's text of a figure at a time, not
/// the whole range's.
const SPANS: i64 = 32;

/// A range cut into consecutive spans: one a day, [`SPANS`] at most.
fn chunks(from: i64, to: i64) -> Vec<(i64, i64)> {
    let count = days_between(from, to).clamp(1, SPANS);
    let length = ((to - from) + count - 1) / count;
    let mut spans = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + length.max(1)).min(to);
        spans.push((start, end));
        start = end;
    }
    spans
}

/// Where a figure is read from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Series(Series),
    Messages,
}

/// One figure of a report, read span by span.
struct Reading<'a> {
    db: &'a sqlx::AnyPool,
    account_id: i64,
    source: Source,
    dimension: Dimension,
    spans: &'a [(i64, i64)],
}

impl Reading<'_> {
    /// Reads every span and folds each record (`N` integers) into tallies.
    async fn fold<const N: usize>(self, mut fold: impl FnMut(&mut Tallies, [i64; N])) -> sqlx::Result<Tallies> {
        let mut tallies = Tallies::new();
        for (start, end) in self.spans {
            let text = match self.source {
                Source::Series(series) => {
                    store::series(self.db, self.account_id, series, self.dimension, *start, *end).await?
                }
                Source::Messages => {
                    store::message_counts(self.db, self.account_id, self.dimension, *start, *end).await?
                }
            };
            for record in records::<N>(&text) {
                fold(&mut tallies, record);
            }
        }
        Ok(tallies)
    }
}

/// The records of a series (`;`-separated, `,`-separated integers), each with exactly `N` fields.
fn records<const N: usize>(text: &Option<String>) -> impl Iterator<Item = [i64; N]> + '_ {
    text.as_deref().unwrap_or_default().split(';').filter(|r| !r.is_empty()).filter_map(|record| {
        let mut fields = [0; N];
        let mut parts = record.split(',');
        for field in &mut fields {
            *field = parts.next()?.parse().ok()?;
        }
        Some(fields)
    })
}

/// The account's business hours, checked, if it set them.
async fn schedule_of(state: &AppState, account_id: i64) -> Result<Option<Schedule>> {
    let Some(json) = store::business_hours(state.db.reader(), account_id).await? else {
        return Ok(None);
    };
    let hours: BusinessHours = serde_json::from_str(&json).map_err(anyhow::Error::from)?;
    Ok(hours.schedule().ok())
}

/// The stopwatch for times starting as early as `first` and ending by `last`.
fn stopwatch(schedule: &Option<Schedule>, first: i64, last: i64) -> Stopwatch {
    match schedule {
        Some(schedule) => Stopwatch::Business(OpenTime::over(schedule, first, last)),
        None => Stopwatch::Wall,
    }
}

/// The time zone a report's days follow: the query's, the business hours', else UTC.
fn zone_of(asked: Option<&str>, schedule: &Option<Schedule>) -> Result<chrono_tz::Tz> {
    match asked {
        Some(name) => parse_timezone(name)
            .ok_or_else(|| Error::field("timezone", format!("`{name}` is not an IANA time zone such as Europe/Rome"))),
        None => Ok(schedule.as_ref().map_or(chrono_tz::UTC, |s| s.timezone)),
    }
}

/// Names of the groups of a report.
async fn groups(state: &AppState, account_id: i64, dimension: Dimension) -> Result<HashMap<i64, Group>> {
    Ok(store::names(state.db.reader(), account_id, dimension)
        .await?
        .into_iter()
        .map(|row| (row.id, Group { id: Some(row.id), name: Some(row.name), kind: row.kind }))
        .collect())
}

/// How a group id is shown: nothing in an unsplit report, id null for none (no team, unassigned).
fn group_of(names: &HashMap<i64, Group>, dimension: Dimension, id: i64) -> Option<Group> {
    match (dimension, id) {
        (Dimension::Everything, _) => None,
        (_, 0) => Some(Group { id: None, name: None, kind: None }),
        _ => Some(names.get(&id).cloned().unwrap_or(Group { id: Some(id), name: None, kind: None })),
    }
}

/// The activity report: volumes and times per period and group.
pub async fn activity(state: &AppState, account_id: i64, query: ActivityQuery) -> Result<Activity> {
    let to = match &query.to {
        Some(text) => parse_timestamp(text).ok_or_else(|| Error::field("to", "must be an RFC 3339 time or a date"))?,
        None => now_ms(),
    };
    let from = match &query.from {
        Some(text) => {
            parse_timestamp(text).ok_or_else(|| Error::field("from", "must be an RFC 3339 time or a date"))?
        }
        None => to - DEFAULT_RANGE_DAYS * 86_400_000,
    };
    if from >= to {
        return Err(Error::field("to", "must be after `from`"));
    }
    if days_between(from, to) > MAX_RANGE_DAYS {
        return Err(Error::field("to", format!("a report covers at most {MAX_RANGE_DAYS} days")));
    }
    let schedule = schedule_of(state, account_id).await?;
    let zone = zone_of(query.timezone.as_deref(), &schedule)?;
    let interval = query.interval.unwrap_or(Interval::Day);
    let periods = Periods::cover(zone, interval, from, to);
    let dimension = GroupBy::dimension(query.group_by);
    let _running = RUNNING.acquire().await.map_err(anyhow::Error::from)?;
    let reader = state.db.reader();
    let first_start = match schedule {
        Some(_) => store::earliest_start(reader, account_id, from, to).await?.unwrap_or(from),
        None => from,
    };
    let clock = stopwatch(&schedule, first_start, to);
    let (spans, counted) = (chunks(from, to), chunks(from - from.rem_euclid(BUCKET_MS), to));
    let read = |source, spans| Reading { db: reader, account_id, source, dimension, spans };
    let (opened, responded, resolved, escalated, messages, names) = tokio::try_join!(
        read(Source::Series(Series::Opened), &spans).fold(|tallies, [group, at]: [i64; 2]| {
            tallies.entry((periods.index(at), group)).or_default().opened += 1;
        }),
        read(Source::Series(Series::Responded), &spans).fold(|tallies, [group, at, start]: [i64; 3]| {
            let tally = tallies.entry((periods.index(at), group)).or_default();
            tally.first_responses.push(clock.elapsed(start, at));
        }),
        read(Source::Series(Series::Resolved), &spans).fold(|tallies, [group, at, start, by_agent]: [i64; 4]| {
            let tally = tallies.entry((periods.index(at), group)).or_default();
            tally.resolved += 1;
            tally.resolutions.push(clock.elapsed(start, at));
            tally.bot_resolved += by_agent;
        }),
        read(Source::Series(Series::Escalated), &spans).fold(|tallies, [group, at]: [i64; 2]| {
            tallies.entry((periods.index(at), group)).or_default().escalated += 1;
        }),
        read(Source::Messages, &counted).fold(|tallies, [id, bucket_at, inbound, outbound]: [i64; 4]| {
            let group = if dimension == Dimension::Everything { 0 } else { id };
            let tally = tallies.entry((periods.index(bucket_at.max(from)), group)).or_default();
            tally.messages_in += inbound;
            tally.messages_out += outbound;
        }),
        async { Ok::<_, sqlx::Error>(groups(state, account_id, dimension).await) },
    )?;
    let names = names?;
    let mut tallies = opened;
    for part in [responded, resolved, escalated, messages] {
        for (key, tally) in part {
            tallies.entry(key).or_default().absorb(&tally);
        }
    }
    let mut totals: BTreeMap<i64, Tally> = BTreeMap::new();
    for ((_, group), tally) in &tallies {
        totals.entry(*group).or_default().absorb(tally);
    }
    let mut overall = Tally::default();
    for tally in totals.values() {
        overall.absorb(tally);
    }
    let mut group_ids: Vec<i64> = totals.keys().copied().collect();
    if dimension == Dimension::Everything && group_ids.is_empty() {
        group_ids.push(0);
    }
    // Named groups first in id order, then "none".
    group_ids.sort_by_key(|id| (*id == 0, *id));
    let periods = periods
        .starts
        .iter()
        .zip(&periods.dates)
        .enumerate()
        .map(|(index, (start, date))| Period {
            date: date.to_string(),
            start: to_rfc3339(*start),
            figures: group_ids
                .iter()
                .map(|id| tallies.remove(&(index, *id)).unwrap_or_default().figures(group_of(&names, dimension, *id)))
                .collect(),
        })
        .collect();
    Ok(Activity {
        from: to_rfc3339(from),
        to: to_rfc3339(to),
        interval,
        timezone: zone.name().to_owned(),
        group_by: query.group_by,
        business_hours: schedule.is_some(),
        overall: overall.figures(None),
        totals: group_ids
            .iter()
            .map(|id| totals.remove(id).unwrap_or_default().figures(group_of(&names, dimension, *id)))
            .collect(),
        periods,
    })
}

/// How long unassigned conversations have waited for an operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Waiting {
    pub count: i64,
    pub oldest_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
}

impl Waiting {
    fn of(mut waits: Vec<i64>) -> Waiting {
        waits.sort_unstable();
        Waiting {
            count: waits.len() as i64,
            oldest_seconds: seconds(waits.last().copied()),
            median_seconds: seconds(nearest_rank(&waits, 50)),
        }
    }
}

/// One operator's or virtual agent's open conversations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Load {
    pub id: i64,
    pub name: String,
    pub open: i64,
}

/// A team's open conversations and the unassigned ones waiting in it (`id` null: no team).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamLoad {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub open: i64,
    pub waiting: Waiting,
}

/// Who has what now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Workload {
    /// When it was measured.
    pub at: String,
    /// Whether waiting times count only the account's business hours.
    pub business_hours: bool,
    /// Open and pending conversations.
    pub open: i64,
    /// Unassigned conversations waiting for an operator, in all.
    pub waiting: Waiting,
    /// Every operator with the open conversations assigned to them.
    pub operators: Vec<Load>,
    pub teams: Vec<TeamLoad>,
    /// Every virtual agent with the open conversations it handles.
    pub virtual_agents: Vec<Load>,
}

/// The live workload: open conversations per operator, team and virtual agent (from the report
/// rows, a moment behind the conversations), and how long the unassigned ones have waited.
pub async fn workload(state: &AppState, account_id: i64) -> Result<Workload> {
    let now = now_ms();
    let reader = state.db.reader();
    let (open, waiting, schedule) =
        tokio::try_join!(store::open_counts(reader, account_id), store::waiting(reader, account_id), async {
            Ok::<_, sqlx::Error>(schedule_of(state, account_id).await)
        },)?;
    let schedule = schedule?;
    let waits: Vec<[i64; 2]> = records::<2>(&waiting).collect();
    let clock = stopwatch(&schedule, waits.iter().map(|[_, since]| *since).min().unwrap_or(now), now);
    let mut per_team: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for [team, since] in &waits {
        per_team.entry(*team).or_default().push(clock.elapsed(*since, now));
    }
    let (mut by_operator, mut by_team, mut by_agent) = (HashMap::new(), BTreeMap::new(), HashMap::new());
    for row in &open {
        *by_operator.entry(row.assignee_id.unwrap_or(0)).or_insert(0) += row.count;
        *by_team.entry(row.team_id.unwrap_or(0)).or_insert(0) += row.count;
        let agent = row.agent_id.filter(|_| row.handler == Handler::VirtualAgent.as_str());
        *by_agent.entry(agent.unwrap_or(0)).or_insert(0) += row.count;
    }
    let loads = |rows: Vec<store::NamedRow>, counts: &HashMap<i64, i64>| -> Vec<Load> {
        rows.into_iter()
            .map(|row| Load { open: counts.get(&row.id).copied().unwrap_or(0), id: row.id, name: row.name })
            .collect()
    };
    let operators = loads(store::names(reader, account_id, Dimension::Operator).await?, &by_operator);
    let virtual_agents = loads(store::names(reader, account_id, Dimension::VirtualAgent).await?, &by_agent);
    let mut teams: Vec<TeamLoad> = store::names(reader, account_id, Dimension::Team)
        .await?
        .into_iter()
        .map(|row| TeamLoad {
            open: by_team.get(&row.id).copied().unwrap_or(0),
            waiting: Waiting::of(per_team.remove(&row.id).unwrap_or_default()),
            id: Some(row.id),
            name: Some(row.name),
        })
        .collect();
    let without_team = by_team.get(&0).copied().unwrap_or(0);
    let waiting_without_team = per_team.remove(&0).unwrap_or_default();
    if without_team > 0 || !waiting_without_team.is_empty() {
        teams.push(TeamLoad { id: None, name: None, open: without_team, waiting: Waiting::of(waiting_without_team) });
    }
    Ok(Workload {
        at: to_rfc3339(now),
        business_hours: schedule.is_some(),
        open: open.iter().map(|row| row.count).sum(),
        waiting: Waiting::of(waits.iter().map(|[_, since]| clock.elapsed(*since, now)).collect()),
        operators,
        teams,
        virtual_agents,
    })
}

fn csv_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("writing CSV: {e}"))
}

/// Writes CSV records into text.
fn csv_text(header: &[&str], records: impl Iterator<Item = Vec<String>>) -> Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header).map_err(csv_error)?;
    for record in records {
        out.write_record(record).map_err(csv_error)?;
    }
    let bytes = out.into_inner().map_err(csv_error)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn cell<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The activity report as CSV: one line per period and group, then the range's totals
/// (`period` = `total`).
pub async fn activity_csv(state: &AppState, account_id: i64, query: ActivityQuery) -> Result<String> {
    let report = activity(state, account_id, query).await?;
    let line = |period: &str, figures: &Figures| {
        let group = figures.group.as_ref();
        vec![
            period.to_owned(),
            cell(group.and_then(|g| g.id)),
            cell(group.and_then(|g| g.name.clone())),
            figures.opened.to_string(),
            figures.resolved.to_string(),
            figures.messages_in.to_string(),
            figures.messages_out.to_string(),
            figures.first_response.count.to_string(),
            cell(figures.first_response.median_seconds),
            cell(figures.first_response.p90_seconds),
            figures.resolution.count.to_string(),
            cell(figures.resolution.median_seconds),
            cell(figures.resolution.p90_seconds),
            figures.bot_resolved.to_string(),
            figures.escalated.to_string(),
        ]
    };
    let lines = report
        .periods
        .iter()
        .flat_map(|period| period.figures.iter().map(|figures| line(&period.date, figures)))
        .chain(report.totals.iter().map(|figures| line("total", figures)));
    csv_text(
        &[
            "period",
            "group_id",
            "group_name",
            "opened",
            "resolved",
            "messages_in",
            "messages_out",
            "first_responses",
            "first_response_median_seconds",
            "first_response_p90_seconds",
            "resolutions",
            "resolution_median_seconds",
            "resolution_p90_seconds",
            "bot_resolved",
            "escalated",
        ],
        lines,
    )
}

/// The workload as CSV: one line per operator, team and virtual agent.
pub async fn workload_csv(state: &AppState, account_id: i64) -> Result<String> {
    let report = workload(state, account_id).await?;
    let load = |kind: &str, load: &Load| {
        vec![
            kind.to_owned(),
            load.id.to_string(),
            load.name.clone(),
            load.open.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]
    };
    let lines = report
        .operators
        .iter()
        .map(|l| load("operator", l))
        .chain(report.teams.iter().map(|team| {
            vec![
                "team".to_owned(),
                cell(team.id),
                cell(team.name.clone()),
                team.open.to_string(),
                team.waiting.count.to_string(),
                cell(team.waiting.oldest_seconds),
                cell(team.waiting.median_seconds),
            ]
        }))
        .chain(report.virtual_agents.iter().map(|l| load("virtual_agent", l)));
    csv_text(&["kind", "id", "name", "open", "waiting", "oldest_wait_seconds", "median_wait_seconds"], lines)
}

/// The account's business hours.
pub async fn business_hours(state: &AppState, account_id: i64) -> Result<BusinessHours> {
    let json = store::business_hours(state.db.reader(), account_id).await?.ok_or(Error::NotFound("business hours"))?;
    Ok(serde_json::from_str(&json).map_err(anyhow::Error::from)?)
}

/// Sets the account's business hours; times in reports count them from now on, over the past too.
pub async fn set_business_hours(state: &AppState, account_id: i64, hours: BusinessHours) -> Result<BusinessHours> {
    hours.schedule().map_err(|(field, message)| Error::field(&field, message))?;
    let json = serde_json::to_string(&hours).map_err(anyhow::Error::from)?;
    let mut tx = state.db.begin().await?;
    store::set_business_hours(&mut tx, account_id, Some(&json)).await?;
    tx.commit().await?;
    Ok(hours)
}

/// Clears the account's business hours: times count every hour again.
pub async fn clear_business_hours(state: &AppState, account_id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    store::set_business_hours(&mut tx, account_id, None).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::records;

    #[test]
    fn series_records_skip_what_is_malformed() {
        let text = Some("1,2;3,x;4,5;;6".to_owned());
        assert_eq!(records::<2>(&text).collect::<Vec<_>>(), vec![[1, 2], [4, 5]]);
        assert_eq!(records::<2>(&None).count(), 0);
    }
}
