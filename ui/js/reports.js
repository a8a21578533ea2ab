/**
 * The reports page (`#/reports`): satisfaction surveys over a period and channel — how many were sent and
 * answered, the response rate and the average, the distribution of the votes, the same day by day as a chart —
 * and the CSV export of the surveys sent.
 *
 * Test ids: reports-page, report-channel, report-period, report-sent, report-answered, report-rate,
 * report-average, report-distribution, distribution-bar (data-vote, data-count), report-chart, report-day (data-date,
 * data-sent, data-answered), report-empty, report-csv, report-error.
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

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountReports(element) {
  const channel = h('select', { 'data-testid': 'report-channel', 'aria-label': t('reports.channel'), onchange: () => load() },
    h('option', { value: '' }, t('reports.all_channels')));
  const period = h('select', { 'data-testid': 'report-period', 'aria-label': t('reports.period'), onchange: () => load() },
    [7, 30, 90].map((days) => h('option', { value: days, selected: days === 30 }, t('reports.last_days', { days }))));
  const csv = h('a', { class: 'chip', 'data-testid': 'report-csv', download: 'survey-results.csv' }, t('reports.csv'));
  const kpi = (testid, label) => {
    const value = h('strong', { 'data-testid': testid }, '–');
    return [h('div', { class: 'rp-kpi' }, value, h('span', {}, label)), value];
  };
  const [sentBox, sent] = kpi('report-sent', t('reports.sent'));
  const [answeredBox, answered] = kpi('report-answered', t('reports.answered'));
  const [rateBox, rate] = kpi('report-rate', t('reports.response_rate'));
  const [averageBox, average] = kpi('report-average', t('reports.average'));
  const distribution = h('div', { class: 'rp-bars', 'data-testid': 'report-distribution' });
  const chart = h('figure', { class: 'rp-chart' });
  const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'report-error' });
  element.replaceChildren(
    h('section', { class: 'ch-page', 'data-testid': 'reports-page' },
      h('header', { class: 'ch-head' }, h('h1', {}, t('reports.title')), csv),
      h('p', { class: 'cp-muted' }, t('reports.intro')),
      h('div', { class: 'rp-filters' }, channel, period),
      error,
      h('div', { class: 'rp-kpis' }, sentBox, answeredBox, rateBox, averageBox),
      h('h2', {}, t('reports.distribution')),
      distribution,
      h('h2', {}, t('reports.over_time')),
      chart));

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
  return () => { generation += 1; element.replaceChildren(); };
}
