/**
 * The reports page (`#/reports`).
 *
 * Activity over this week, the last 7, 30 or 90 days or chosen dates, per day or week, split by channel, team,
 * operator or virtual agent: conversations opened and resolved, messages in and out, first response and resolution
 * times (median and p90) as bar charts per group, opened and resolved per period as a chart, a table of every
 * figure, and its CSV. The live workload: open conversations per operator (a chart) and team, and how long
 * unassigned ones have waited. Satisfaction surveys over a period and channel — sent, answered, response rate,
 * average, the distribution of the votes and the same day by day — and their CSV. Days and weeks are the browser's
 * time zone's.
 *
 * Test ids: reports-page; activity-range, activity-from, activity-to, activity-interval, activity-group,
 * activity-csv, activity-opened, activity-resolved, activity-in, activity-out, activity-frt, activity-frt-p90,
 * activity-resolution, activity-bot-share, frt-chart, frt-bar (data-group, data-median, data-p90), resolution-bar
 * (same), volume-chart, volume-period (data-date, data-opened, data-resolved), activity-row (data-group),
 * activity-error; workload-open, workload-waiting, workload-oldest, load-bar (data-name, data-open), team-load
 * (data-name, data-open, data-waiting), workload-csv; report-channel, report-period, report-sent, report-answered,
 * report-rate, report-average, report-distribution, distribution-bar (data-vote, data-count), report-chart,
 * report-day (data-date, data-sent, data-answered), report-empty, report-csv, report-error.
 */

import { api, describeError as describe, query } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';
import { channelName } from './icons.js';

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes. */
function svg(name, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

const percent = (value) => `${Math.round(value * 100)} %`;


/** A time in seconds as people read it: `45 s`, `12 min`, `2 h 5 min`, `3 d 4 h`. */
export function duration(seconds) {
  if (seconds == null) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const [hours, rest] = [Math.floor(minutes / 60), minutes % 60];
  if (hours < 24) return rest ? `${hours} h ${rest} min` : `${hours} h`;
  const [days, left] = [Math.floor(hours / 24), hours % 24];
  return left ? `${days} d ${left} h` : `${days} d`;
}

const RANGES = ['this_week', 'last_7', 'last_30', 'last_90', 'custom'];
const GROUPS = ['channel', 'team', 'operator', 'virtual_agent', ''];

/** A `YYYY-MM-DD` date's local midnight, `days` later. */
function midnight(date, days = 0) {
  const [year, month, day] = date.split('-').map(Number);
  return new Date(year, month - 1, day + days);
}

/** A date as `YYYY-MM-DD`, local. */
function isoDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The instants a range choice covers, in the browser's time zone; `custom` runs from the first day to the end of the last. */
function rangeOf(choice, first, last) {
  const now = new Date();
  if (choice === 'custom') return { from: midnight(first).toISOString(), to: midnight(last, 1).toISOString() };
  if (choice === 'this_week') {
    const monday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - ((now.getDay() + 6) % 7));
    const next = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 7);
    return { from: monday.toISOString(), to: next.toISOString() };
  }
  const days = Number(choice.split('_')[1]);
  return { from: new Date(now.getTime() - days * 86_400_000).toISOString(), to: now.toISOString() };
}

/** How a group of figures is named. */
function groupLabel(group, groupBy) {
  if (!group) return t('reports.everything');
  if (group.id == null) return t(`reports.none_${groupBy}`);
  const name = group.name ?? `#${group.id}`;
  return group.kind ? `${name} · ${channelName(group.kind)}` : name;
}

/** A small figure with its label. */
function kpi(testid, label) {
  const value = h('strong', { 'data-testid': testid }, '–');
  return [h('div', { class: 'rp-kpi' }, value, h('span', {}, label)), value];
}

/** A horizontal bar: its label, the track with `fills` (width fractions, the first behind), and its figure. */
function bar(attributes, label, fills, figure) {
  return h('div', { class: 'rp-bar rp-time', ...attributes },
    h('span', { class: 'rp-bar-label', title: label }, label),
    h('span', { class: 'rp-bar-track' }, fills.map(([kind, fraction]) => h('span', { class: kind, style: `width: ${fraction * 100}%` }))),
    h('span', { class: 'rp-bar-count' }, figure));
}

/** Horizontal bars of a time per group: the median solid, the p90 behind it. */
function timeBars(testid, rows) {
  const longest = Math.max(1, ...rows.map((row) => row.times.p90_seconds ?? 0));
  return rows.map(({ label, times }) => bar(
    { 'data-testid': testid, 'data-group': label, 'data-median': times.median_seconds ?? '', 'data-p90': times.p90_seconds ?? '' },
    label,
    [['rp-bar-p90', (times.p90_seconds ?? 0) / longest], ['rp-bar-fill rp-median', (times.median_seconds ?? 0) / longest]],
    t('reports.median_p90', { median: duration(times.median_seconds), p90: duration(times.p90_seconds) })));
}

/** Bars of conversations opened and resolved per period. */
function volumeChart(periods) {
  const [width, height, pad] = [640, 200, 24];
  const sum = (period, key) => period.figures.reduce((total, figures) => total + figures[key], 0);
  const most = Math.max(1, ...periods.map((p) => Math.max(sum(p, 'opened'), sum(p, 'resolved'))));
  const step = (width - 2 * pad) / Math.max(1, periods.length);
  const bar = Math.min(24, Math.max(3, step * 0.35));
  const y = (count) => height - pad - (count / most) * (height - 2 * pad);
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('reports.volume'), 'data-testid': 'volume-chart' },
    svg('line', { class: 'rp-axis', x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }),
    ...periods.map((period, i) => {
      const [opened, resolved] = [sum(period, 'opened'), sum(period, 'resolved')];
      const x = pad + i * step;
      return svg('g', { 'data-testid': 'volume-period', 'data-date': period.date, 'data-opened': opened, 'data-resolved': resolved },
        svg('title', {}, t('reports.period_summary', { date: period.date, opened, resolved })),
        svg('rect', { class: 'rp-sent', x, y: y(opened), width: bar, height: height - pad - y(opened) }),
        svg('rect', { class: 'rp-answered', x: x + bar, y: y(resolved), width: bar, height: height - pad - y(resolved) }));
    }));
}

/** The activity section; returns its node and the function that stops it. */
function activitySection() {
  const select = (testid, label, values, name, chosen) => h('select', { 'data-testid': testid, 'aria-label': label, onchange: () => load() },
    values.map((value) => h('option', { value, selected: value === chosen }, t(`${name}${value || 'none'}`))));
  const range = select('activity-range', t('reports.period'), RANGES, 'reports.range_', 'this_week');
  const day = (testid, label, date) => h('input', { type: 'date', hidden: true, 'data-testid': testid, 'aria-label': label, value: isoDate(date), onchange: () => load() });
  const first = day('activity-from', t('reports.from'), new Date(Date.now() - 29 * 86_400_000));
  const last = day('activity-to', t('reports.to'), new Date());
  const chosen = () => rangeOf(range.value, first.value || isoDate(new Date()), last.value || first.value || isoDate(new Date()));
  const interval = select('activity-interval', t('reports.interval'), ['day', 'week'], 'reports.interval_', 'day');
  const groupBy = select('activity-group', t('reports.group_by'), GROUPS, 'reports.by_', 'channel');
  const csv = h('a', { class: 'chip', 'data-testid': 'activity-csv', download: 'activity.csv' }, t('reports.csv'));
  const [openedBox, opened] = kpi('activity-opened', t('reports.opened'));
  const [resolvedBox, resolved] = kpi('activity-resolved', t('reports.resolved'));
  const [inBox, messagesIn] = kpi('activity-in', t('reports.messages_in'));
  const [outBox, messagesOut] = kpi('activity-out', t('reports.messages_out'));
  const [frtBox, frt] = kpi('activity-frt', t('reports.frt_median'));
  const [frt90Box, frt90] = kpi('activity-frt-p90', t('reports.frt_p90'));
  const [resolutionBox, resolution] = kpi('activity-resolution', t('reports.resolution_median'));
  const [shareBox, botShare] = kpi('activity-bot-share', t('reports.bot_share'));
  const frtTitle = h('h3', {});
  const frtChart = h('div', { class: 'rp-bars rp-wide', 'data-testid': 'frt-chart' });
  const resolutionTitle = h('h3', {});
  const resolutionChart = h('div', { class: 'rp-bars rp-wide' });
  const volume = h('figure', { class: 'rp-chart' });
  const table = h('tbody');
  const hours = h('p', { class: 'cp-muted' });
  const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'activity-error' });
  const node = h('section', { class: 'rp-section' },
    h('header', { class: 'ch-head' }, h('h2', {}, t('reports.activity')), csv),
    h('div', { class: 'rp-filters' }, range, first, last, interval, groupBy),
    hours, error,
    h('div', { class: 'rp-kpis' }, openedBox, resolvedBox, inBox, outBox, frtBox, frt90Box, resolutionBox, shareBox),
    frtTitle, frtChart, resolutionTitle, resolutionChart,
    h('h3', {}, t('reports.volume')), volume,
    h('table', { class: 'rp-table' },
      h('thead', {}, h('tr', {}, ['group', 'opened', 'resolved', 'messages_in', 'messages_out', 'frt_median', 'frt_p90',
        'resolution_median', 'resolution_p90', 'bot_resolved', 'escalated'].map((key) => h('th', {}, t(`reports.${key}`))))),
      table));

  let generation = 0;
  async function load() {
    const mine = ++generation;
    first.hidden = last.hidden = range.value !== 'custom';
    const filter = query({
      ...chosen(), interval: interval.value, group_by: groupBy.value,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    });
    csv.href = `/api/v1/reports/activity.csv${filter}`;
    try {
      const report = await api('GET', `/api/v1/reports/activity${filter}`);
      if (mine !== generation) return;
      error.textContent = '';
      draw(report);
    } catch (failure) {
      if (mine === generation) error.textContent = describe(failure);
    }
  }

  function draw(report) {
    const { overall } = report;
    opened.textContent = overall.opened;
    resolved.textContent = overall.resolved;
    messagesIn.textContent = overall.messages_in;
    messagesOut.textContent = overall.messages_out;
    hours.textContent = report.business_hours ? t('reports.business_hours') : '';
    const rows = report.totals.map((figures) => ({ figures, label: groupLabel(figures.group, groupBy.value) }));
    frt.textContent = duration(overall.first_response.median_seconds);
    frt90.textContent = duration(overall.first_response.p90_seconds);
    resolution.textContent = duration(overall.resolution.median_seconds);
    const share = overall.bot_resolved_share;
    botShare.textContent = share == null ? '–' : `${Math.round(share * 100)} %`;
    const by = t(`reports.by_${groupBy.value || 'none'}`).toLowerCase();
    frtTitle.textContent = t('reports.frt_chart', { by });
    resolutionTitle.textContent = t('reports.resolution_chart', { by });
    const timed = (key) => rows.filter((row) => row.figures[key].count > 0).map((row) => ({ label: row.label, times: row.figures[key] }));
    const frtRows = timed('first_response');
    frtChart.replaceChildren(...(frtRows.length ? timeBars('frt-bar', frtRows) : [h('p', { class: 'cp-muted' }, t('reports.no_times'))]));
    const resolutionRows = timed('resolution');
    resolutionChart.replaceChildren(...(resolutionRows.length ? timeBars('resolution-bar', resolutionRows) : [h('p', { class: 'cp-muted' }, t('reports.no_times'))]));
    volume.replaceChildren(volumeChart(report.periods));
    table.replaceChildren(...rows.map(({ figures, label }) => h('tr', { 'data-testid': 'activity-row', 'data-group': label },
      h('td', {}, label), h('td', {}, figures.opened), h('td', {}, figures.resolved), h('td', {}, figures.messages_in),
      h('td', {}, figures.messages_out), h('td', {}, duration(figures.first_response.median_seconds)),
      h('td', {}, duration(figures.first_response.p90_seconds)), h('td', {}, duration(figures.resolution.median_seconds)),
      h('td', {}, duration(figures.resolution.p90_seconds)), h('td', {}, figures.bot_resolved), h('td', {}, figures.escalated))));
  }

  load();
  return [node, () => { generation += 1; }];
}

/** The live workload section; returns its node and the function that stops it. */
function workloadSection() {
  const csv = h('a', { class: 'chip', 'data-testid': 'workload-csv', download: 'workload.csv', href: '/api/v1/reports/workload.csv' }, t('reports.csv'));
  const [openBox, open] = kpi('workload-open', t('reports.open_now'));
  const [waitingBox, waiting] = kpi('workload-waiting', t('reports.waiting'));
  const [oldestBox, oldest] = kpi('workload-oldest', t('reports.oldest_wait'));
  const operators = h('div', { class: 'rp-bars rp-wide' });
  const teams = h('tbody');
  const node = h('section', { class: 'rp-section' },
    h('header', { class: 'ch-head' }, h('h2', {}, t('reports.workload')), csv),
    h('div', { class: 'rp-kpis' }, openBox, waitingBox, oldestBox),
    h('h3', {}, t('reports.per_operator')), operators,
    h('table', { class: 'rp-table' },
      h('thead', {}, h('tr', {}, ['team', 'open_now', 'waiting', 'oldest_wait', 'median_wait'].map((key) => h('th', {}, t(`reports.${key}`))))),
      teams));
  let stopped = false;
  api('GET', '/api/v1/reports/workload').then((load) => {
    if (stopped) return;
    open.textContent = load.open;
    waiting.textContent = load.waiting.count;
    oldest.textContent = duration(load.waiting.oldest_seconds);
    const most = Math.max(1, ...load.operators.map((o) => o.open));
    operators.replaceChildren(...load.operators.map((o) => bar(
      { 'data-testid': 'load-bar', 'data-name': o.name, 'data-open': o.open }, o.name, [['rp-bar-fill rp-median', o.open / most]], String(o.open))));
    teams.replaceChildren(...load.teams.map((team) => {
      const name = team.name ?? t('reports.none_team');
      return h('tr', { 'data-testid': 'team-load', 'data-name': name, 'data-open': team.open, 'data-waiting': team.waiting.count },
        h('td', {}, name), h('td', {}, team.open), h('td', {}, team.waiting.count),
        h('td', {}, duration(team.waiting.oldest_seconds)), h('td', {}, duration(team.waiting.median_seconds)));
    }));
  }).catch(() => {});
  return [node, () => { stopped = true; }];
}

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountReports(element) {
  const sections = [activitySection(), workloadSection(), surveySection()];
  element.replaceChildren(h('div', { class: 'ch-page', 'data-testid': 'reports-page' },
    h('header', { class: 'ch-head' }, h('h1', {}, t('reports.title'))),
    sections.map(([node]) => node)));
  return () => {
    for (const [, stop] of sections) stop();
    element.replaceChildren();
  };
}

/** The satisfaction surveys section; returns its node and the function that stops it. */
function surveySection() {
  const channel = h('select', { 'data-testid': 'report-channel', 'aria-label': t('reports.channel'), onchange: () => load() },
    h('option', { value: '' }, t('reports.all_channels')));
  const period = h('select', { 'data-testid': 'report-period', 'aria-label': t('reports.period'), onchange: () => load() },
    [7, 30, 90].map((days) => h('option', { value: days, selected: days === 30 }, t('reports.last_days', { days }))));
  const csv = h('a', { class: 'chip', 'data-testid': 'report-csv', download: 'survey-results.csv' }, t('reports.csv'));
  const [sentBox, sent] = kpi('report-sent', t('reports.sent'));
  const [answeredBox, answered] = kpi('report-answered', t('reports.answered'));
  const [rateBox, rate] = kpi('report-rate', t('reports.response_rate'));
  const [averageBox, average] = kpi('report-average', t('reports.average'));
  const distribution = h('div', { class: 'rp-bars', 'data-testid': 'report-distribution' });
  const chart = h('figure', { class: 'rp-chart' });
  const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'report-error' });
  const node = h('section', { class: 'rp-section' },
      h('header', { class: 'ch-head' }, h('h2', {}, t('reports.surveys')), csv),
      h('p', { class: 'cp-muted' }, t('reports.intro')),
      h('div', { class: 'rp-filters' }, channel, period),
      error,
      h('div', { class: 'rp-kpis' }, sentBox, answeredBox, rateBox, averageBox),
      h('h3', {}, t('reports.distribution')),
      distribution,
      h('h3', {}, t('reports.over_time')),
      chart);

  let generation = 0;
  async function load() {
    const mine = ++generation;
    const from = new Date(Date.now() - Number(period.value) * 86_400_000).toISOString();
    const filter = query({ channel_id: channel.value, from });
    csv.href = `/api/v1/surveys/results.csv${filter}`;
    try {
      const results = await api('GET', `/api/v1/surveys/results${filter}`);
      if (mine !== generation) return;
      error.textContent = '';
      draw(results);
    } catch (failure) {
      if (mine === generation) error.textContent = describe(failure);
    }
  }

  function draw(results) {
    sent.textContent = results.sent;
    answered.textContent = results.answered;
    rate.textContent = percent(results.response_rate);
    average.textContent = results.average == null ? '–' : results.average.toFixed(1);
    const most = Math.max(1, ...Object.values(results.distribution));
    distribution.replaceChildren(...[5, 4, 3, 2, 1].map((vote) => {
      const count = results.distribution[vote] || 0;
      return h('div', { class: 'rp-bar', 'data-testid': 'distribution-bar', 'data-vote': vote, 'data-count': count },
        h('span', { class: 'rp-bar-label' }, `${vote} ★`),
        h('span', { class: 'rp-bar-track' }, h('span', { class: 'rp-bar-fill', style: `width: ${(count / most) * 100}%` })),
        h('span', { class: 'rp-bar-count' }, String(count)));
    }));
    chart.replaceChildren(results.days.length ? dayChart(results.days) : h('p', { class: 'cp-muted', 'data-testid': 'report-empty' }, t('reports.empty')));
  }

  /** Bars of surveys sent and answered per day, with the response rate as a line. */
  function dayChart(days) {
    const width = 640;
    const height = 200;
    const pad = 24;
    const most = Math.max(1, ...days.map((d) => d.sent));
    const step = (width - 2 * pad) / days.length;
    const y = (count) => height - pad - (count / most) * (height - 2 * pad);
    const groups = days.map((day, i) => {
      const x = pad + i * step;
      const bar = Math.min(24, Math.max(4, step * 0.35));
      return svg('g', { 'data-testid': 'report-day', 'data-date': day.date, 'data-sent': day.sent, 'data-answered': day.answered },
        svg('title', {}, t('reports.day_summary', { date: day.date, sent: day.sent, answered: day.answered, rate: percent(day.response_rate) })),
        svg('rect', { class: 'rp-sent', x, y: y(day.sent), width: bar, height: height - pad - y(day.sent) }),
        svg('rect', { class: 'rp-answered', x: x + bar, y: y(day.answered), width: bar, height: height - pad - y(day.answered) }));
    });
    const line = days.map((day, i) => `${pad + i * step + Math.min(24, step * 0.35)},${height - pad - day.response_rate * (height - 2 * pad)}`).join(' ');
    return svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('reports.over_time'), 'data-testid': 'report-chart' },
      svg('line', { class: 'rp-axis', x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }),
      ...groups,
      svg('polyline', { class: 'rp-rate', points: line, fill: 'none' }));
  }

  api('GET', '/api/v1/channels')
    .then((list) => {
      channel.append(...list.data.map((c) => h('option', { value: c.id }, `${c.name} · ${channelName(c.kind)}`)));
    })
    .catch((failure) => { error.textContent = describe(failure); });
  load();
  return [node, () => { generation += 1; }];
}
